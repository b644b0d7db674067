-- Bytes planned and moved per move task of a rebalance job, one row per task (none for an unknown job).
-- A task's command names one shard; the move takes its whole shard group (the colocated shards with the
-- same hash range), whose size citus_shards reads from the workers: the source's size while the task
-- waits or runs, the target's once it is done. Bytes copied by a running move are get_rebalance_progress()'s
-- target_shard_size of each shard, at most its source_shard_size (transcript A_17). read_at is the server's
-- clock, to compare with the job's started_at.
WITH tasks AS (
    SELECT t.task_id, t.status::text AS status,
           substring(t.command FROM 'citus_move_shard_placement\((\d+)')::bigint AS shardid
    FROM pg_dist_background_task AS t
    WHERE t.job_id = %(job_id)s
),
shard_group AS (
    SELECT k.task_id, s2.shardid
    FROM tasks AS k
         JOIN pg_dist_shard AS s1 ON s1.shardid = k.shardid
         JOIN pg_dist_partition AS p1 ON p1.logicalrelid = s1.logicalrelid
         JOIN pg_dist_partition AS p2
           ON p2.logicalrelid = p1.logicalrelid OR (p1.colocationid <> 0 AND p2.colocationid = p1.colocationid)
         JOIN pg_dist_shard AS s2
           ON s2.logicalrelid = p2.logicalrelid AND s2.shardminvalue IS NOT DISTINCT FROM s1.shardminvalue
),
planned AS (
    SELECT g.task_id, sum(s.shard_size)::bigint AS bytes
    FROM shard_group AS g
         JOIN (SELECT shardid, max(shard_size) AS shard_size FROM citus_shards GROUP BY shardid) AS s
           ON s.shardid = g.shardid
    GROUP BY g.task_id
),
copied AS (
    SELECT g.task_id,
           sum(CASE WHEN p.progress >= 2 THEN p.source_shard_size
                    ELSE least(p.target_shard_size, p.source_shard_size) END)::bigint AS bytes
    FROM shard_group AS g
         JOIN get_rebalance_progress() AS p ON p.shardid = g.shardid AND p.operation_type = 'move'
    GROUP BY g.task_id
)
SELECT k.task_id, k.status, k.shardid, pl.bytes AS planned_bytes,
       CASE WHEN k.status = 'done' THEN pl.bytes
            WHEN k.status = 'running' THEN least(coalesce(c.bytes, 0), pl.bytes)
            ELSE 0 END::bigint AS moved_bytes,
       statement_timestamp() AS read_at
FROM tasks AS k
     LEFT JOIN planned AS pl ON pl.task_id = k.task_id
     LEFT JOIN copied AS c ON c.task_id = k.task_id
ORDER BY k.task_id
