-- pgshift's Citus emulation, part 7: citus_job_status() / citus_rebalance_status().
--
-- Same columns, types and details jsonb as Citus 13.2 (A_01, A_16): task_state_counts; tasks lists
-- the running tasks that report progress (phase, sizes, hosts, LSNs) and the tasks in error or
-- waiting to be retried (state, retried, message, command, task_id).

CREATE FUNCTION pg_catalog.citus_job_status(job_id bigint, raw boolean DEFAULT false)
RETURNS TABLE (job_id bigint, state citus_job_status, job_type name, description text, started_at timestamptz,
               finished_at timestamptz, details jsonb)
LANGUAGE sql VOLATILE STRICT AS $fn$
    SELECT citus_emulation.ensure_runner($1);
    WITH progress AS MATERIALIZED (
        SELECT p.sessionid, sum(p.source_shard_size) AS source_size, sum(p.target_shard_size) AS target_size,
               min(p.status) AS phase, min(p.sourcename) AS sourcename, min(p.sourceport) AS sourceport,
               min(p.targetname) AS targetname, min(p.targetport) AS targetport,
               max(p.source_lsn) AS source_lsn, min(p.target_lsn) AS target_lsn
        FROM pg_catalog.get_rebalance_progress() p
        GROUP BY p.sessionid
    ),
    counts AS (
        SELECT t.status, count(*) AS n FROM pg_catalog.pg_dist_background_task t WHERE t.job_id = $1 GROUP BY t.status
    ),
    running AS (
        SELECT jsonb_agg(jsonb_build_object(
                   'state', t.status, 'retried', coalesce(t.retry_count, 0), 'phase', p.phase,
                   'hosts', jsonb_build_object('source', p.sourcename || ':' || p.sourceport,
                                               'target', p.targetname || ':' || p.targetport),
                   'message', t.message, 'command', t.command, 'task_id', t.task_id,
                   'size', CASE WHEN $2 THEN jsonb_build_object('source', p.source_size, 'target', p.target_size)
                                ELSE jsonb_build_object('source', pg_size_pretty(p.source_size),
                                                        'target', pg_size_pretty(p.target_size)) END,
                   'LSN', jsonb_build_object('source', p.source_lsn, 'target', p.target_lsn,
                                             'lag', CASE WHEN $2 THEN to_jsonb(p.source_lsn - p.target_lsn)
                                                         ELSE to_jsonb(pg_size_pretty(p.source_lsn - p.target_lsn)) END))
                   ORDER BY t.task_id) AS tasks
        FROM pg_catalog.pg_dist_background_task t JOIN progress p ON p.sessionid = t.pid
        WHERE t.job_id = $1 AND t.status = 'running'
    ),
    troubled AS (
        SELECT jsonb_agg(jsonb_build_object('state', t.status, 'retried', coalesce(t.retry_count, 0),
                                            'message', t.message, 'command', t.command, 'task_id', t.task_id)
                         ORDER BY t.task_id) AS tasks
        FROM pg_catalog.pg_dist_background_task t
        WHERE t.job_id = $1 AND NOT EXISTS (SELECT 1 FROM progress p WHERE p.sessionid = t.pid)
          AND (t.status = 'error' OR (t.status = 'runnable' AND t.retry_count > 0))
    )
    SELECT j.job_id, j.state, j.job_type, j.description, j.started_at, j.finished_at,
           jsonb_build_object('task_state_counts', (SELECT jsonb_object_agg(c.status, c.n) FROM counts c),
                              'tasks', coalesce((SELECT tasks FROM running), '[]'::jsonb)
                                       || coalesce((SELECT tasks FROM troubled), '[]'::jsonb))
    FROM pg_catalog.pg_dist_background_job j
    WHERE j.job_id = $1
$fn$;

CREATE FUNCTION pg_catalog.citus_rebalance_status(raw boolean DEFAULT false)
RETURNS TABLE (job_id bigint, state citus_job_status, job_type name, description text, started_at timestamptz,
               finished_at timestamptz, details jsonb)
LANGUAGE sql VOLATILE STRICT AS $fn$
    SELECT s.* FROM pg_catalog.citus_job_status(
        (SELECT j.job_id FROM pg_catalog.pg_dist_background_job j WHERE j.job_type = 'rebalance'
         ORDER BY j.job_id DESC LIMIT 1), $1) s
$fn$;
