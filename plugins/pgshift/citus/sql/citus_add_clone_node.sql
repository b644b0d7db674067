-- Idempotent in Citus 13.2: a node already registered as this primary's clone returns its nodeid (F_04).
SELECT citus_add_clone_node(%(host)s, %(port)s, %(source_host)s, %(source_port)s) AS nodeid
