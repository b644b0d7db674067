-- Shard placements of distributed tables per active node, nodes without any included.
SELECT n.nodename, n.nodeport, n.shouldhaveshards,
       count(s.shardid) AS shard_count, coalesce(sum(s.shard_size), 0)::bigint AS total_bytes
FROM pg_dist_node AS n
     LEFT JOIN citus_shards AS s
            ON s.nodename = n.nodename AND s.nodeport = n.nodeport AND s.citus_table_type = 'distributed'
WHERE n.isactive AND n.noderole = 'primary' AND (n.groupid <> 0 OR n.shouldhaveshards OR s.shardid IS NOT NULL)
GROUP BY n.nodename, n.nodeport, n.shouldhaveshards
ORDER BY n.nodename, n.nodeport
