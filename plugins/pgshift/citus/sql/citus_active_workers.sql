SELECT node_name, node_port FROM citus_get_active_worker_nodes() ORDER BY node_name, node_port
