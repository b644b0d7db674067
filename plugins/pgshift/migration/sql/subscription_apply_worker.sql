-- On the subscriber (C; A for the way back): one sample of the subscription's error counters and of its leader
-- apply worker (pid, and when it last (re)started), with the interval after which the launcher restarts a failed
-- worker.
-- pg_stat_subscription lists a subscription without workers once with a NULL pid; relid IS NULL and
-- leader_pid IS NULL pick the leader apply worker (not table-sync or parallel apply workers), 16 and later.
SELECT s.subname,
       coalesce(st.apply_error_count, 0)                            AS apply_error_count,
       coalesce(st.sync_error_count, 0)                             AS sync_error_count,
       to_char(st.stats_reset AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS stats_reset,
       w.pid                                                        AS apply_worker_pid,
       to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS apply_worker_started,
       extract(epoch FROM clock_timestamp() - a.backend_start)::float8 AS apply_worker_age_s,
       w.received_lsn::text                                         AS received_lsn,
       w.latest_end_lsn::text                                       AS latest_end_lsn,
       (SELECT setting::int FROM pg_settings WHERE name = 'wal_retrieve_retry_interval') AS retry_interval_ms
FROM pg_subscription s
LEFT JOIN pg_stat_subscription_stats st ON st.subid = s.oid
LEFT JOIN LATERAL (SELECT p.pid, p.received_lsn, p.latest_end_lsn
                     FROM pg_stat_subscription p
                    WHERE p.subid = s.oid AND p.pid IS NOT NULL AND p.relid IS NULL AND p.leader_pid IS NULL
                    LIMIT 1) w ON true
LEFT JOIN pg_stat_activity a ON a.pid = w.pid
WHERE s.subname = %s
  AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
