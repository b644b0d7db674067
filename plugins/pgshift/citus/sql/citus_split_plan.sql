-- Which of the source's shards the promoted clone keeps ("Clone Node") and which stay ("Primary Node").
-- Citus reports 0 as the size of hash-distributed shards (F_05): the size is read from citus_shards.
SELECT p.table_name::text AS table_name, p.shardid, coalesce(s.shard_size, p.shard_size) AS shard_size,
       p.placement_node
FROM get_snapshot_based_node_split_plan(%(source_host)s, %(source_port)s, %(host)s, %(port)s, %(strategy)s) AS p
     LEFT JOIN citus_shards AS s ON s.shardid = p.shardid
