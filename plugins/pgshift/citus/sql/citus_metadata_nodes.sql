-- Every node in the coordinator's metadata.
SELECT nodeid, groupid, nodename, nodeport, isactive, noderole::text AS noderole, shouldhaveshards
FROM pg_dist_node
ORDER BY nodeid
