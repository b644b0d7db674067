-- On A: the walsender serving B through its physical slot, and how far B's replay trails A.
SELECT s.slot_name,
       s.active,
       s.wal_status,
       r.state,
       r.application_name,
       pg_current_wal_lsn()::text                                  AS current_lsn,
       r.replay_lsn::text                                          AS replay_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint AS lag_bytes,
       extract(epoch FROM r.replay_lag)::float8                    AS replay_lag_s,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint AS retained_bytes
FROM pg_replication_slots s
LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
WHERE s.slot_name = %s AND s.slot_type = 'physical'
