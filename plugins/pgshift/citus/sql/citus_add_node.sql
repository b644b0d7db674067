-- Idempotent in Citus: an already-added node returns its nodeid (transcript A_10).
SELECT citus_add_node(%(host)s, %(port)s) AS nodeid
