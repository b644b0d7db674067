-- Citus facts of a node that has the citus extension: version, role, what its metadata holds.
SELECT citus_version() AS citus_version,
       citus_is_coordinator() AS is_coordinator,
       (SELECT groupid FROM pg_dist_local_group LIMIT 1) AS local_groupid,
       (SELECT count(*) FROM pg_dist_node) AS metadata_nodes,
       (SELECT count(*) FROM pg_dist_partition) AS distributed_tables
