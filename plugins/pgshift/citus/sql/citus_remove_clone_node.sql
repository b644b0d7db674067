-- Only an inactive clone can be removed (F_04, F_10); a promoted node needs citus_remove_node.
SELECT citus_remove_clone_node(%(host)s, %(port)s)
