-- Citus's plan for the strategy, with each shard's current size: the plan's own shard_size column is
-- pg_dist_placement.shardlength, 0 for hash-distributed tables (transcript A_12).
SELECT p.table_name::text AS table_name, p.shardid, coalesce(s.shard_size, p.shard_size) AS shard_size,
       p.sourcename, p.sourceport, p.targetname, p.targetport
FROM get_rebalance_table_shards_plan(rebalance_strategy => %(strategy)s, drain_only => %(drain_only)s) AS p
     LEFT JOIN citus_shards AS s
            ON s.shardid = p.shardid AND s.nodename = p.sourcename AND s.nodeport = p.sourceport
