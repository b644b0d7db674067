-- A replication slot by name, its health, and how far its consumer's confirmation trails this server's position:
-- position 'replay' on B (what it has replayed while a standby; its own position once promoted by action=promote_b),
-- 'current' on a primary (C after the cutover: what it has written). The position is read once, so the lag and the
-- retained WAL are measured from the same point. With an lsn, whether the consumer has confirmed it (NULL when none
-- is given). The CASE evaluates only the branch taken: pg_current_wal_lsn() raises an error on a standby.
WITH here AS (
    SELECT CASE WHEN %(position)s = 'replay' AND pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                ELSE pg_current_wal_lsn() END AS lsn
)
SELECT slot_name,
       plugin,
       slot_type,
       database,
       active,
       wal_status,
       safe_wal_size,
       conflicting,
       invalidation_reason,
       confirmed_flush_lsn::text                                     AS confirmed_flush_lsn,
       here.lsn::text                                                AS position_lsn,
       pg_wal_lsn_diff(here.lsn, confirmed_flush_lsn)::bigint        AS lag_bytes,
       pg_wal_lsn_diff(here.lsn, restart_lsn)::bigint                AS retained_bytes,
       CASE WHEN %(lsn)s::pg_lsn IS NULL THEN NULL
            ELSE confirmed_flush_lsn >= %(lsn)s::pg_lsn END          AS confirmed
FROM pg_replication_slots, here
WHERE slot_name = %(slot)s
