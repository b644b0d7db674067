-- On A, for the synchronous guard: the standby names A's commits wait for now, B's walsender (found by its
-- application_name; NULLs when B has none), how far B's flush trails A, and how many commits wait for a standby.
SELECT current_setting('synchronous_standby_names')                         AS names,
       r.state,
       r.sync_state,
       extract(epoch FROM clock_timestamp() - r.reply_time)::float8         AS reply_age_s,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.flush_lsn)::bigint           AS behind_bytes,
       (SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep')::int AS waiting_commits
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT * FROM pg_stat_replication
                   WHERE application_name = %s
                   ORDER BY sync_state = 'sync' DESC, state = 'streaming' DESC LIMIT 1) AS r ON true
