-- The pg_dist_node row of host:port, if the cluster has it.
SELECT nodeid, groupid, nodename, nodeport, isactive, noderole::text AS noderole, shouldhaveshards
FROM pg_dist_node
WHERE nodename = %(host)s AND nodeport = %(port)s
