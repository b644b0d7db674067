-- On B: the logical slot, its health, and how far its consumer's confirmation trails B's replay.
SELECT slot_name,
       plugin,
       slot_type,
       database,
       active,
       wal_status,
       safe_wal_size,
       conflicting,
       invalidation_reason,
       confirmed_flush_lsn::text                                                   AS confirmed_flush_lsn,
       pg_last_wal_replay_lsn()::text                                              AS replay_lsn,
       pg_wal_lsn_diff(pg_last_wal_replay_lsn(), confirmed_flush_lsn)::bigint      AS lag_bytes,
       pg_wal_lsn_diff(pg_last_wal_replay_lsn(), restart_lsn)::bigint              AS retained_bytes
FROM pg_replication_slots
WHERE slot_name = %s
