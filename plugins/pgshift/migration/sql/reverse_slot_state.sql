-- On C after the cutover: the way back's logical slot (A's subscription reads it), its health, and how far
-- A's confirmation trails C's current WAL position (and whether it has confirmed %(lsn)s, when one is given).
SELECT slot_name,
       plugin,
       slot_type,
       database,
       active,
       wal_status,
       safe_wal_size,
       conflicting,
       invalidation_reason,
       confirmed_flush_lsn::text                                              AS confirmed_flush_lsn,
       pg_current_wal_lsn()::text                                             AS current_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint     AS lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint             AS retained_bytes,
       CASE WHEN %(lsn)s::pg_lsn IS NULL THEN NULL
            ELSE confirmed_flush_lsn >= %(lsn)s::pg_lsn END                   AS confirmed
FROM pg_replication_slots
WHERE slot_name = %(slot)s
