SELECT citus_remove_node(%(host)s, %(port)s)
