-- On B: has B reached the LSN, and has the slot's consumer (C or DMS) confirmed it? B's position is what it has
-- replayed while it is A's standby, its own once promoted (action=promote_b: B is the chain's source). The CASE
-- evaluates only the branch taken: pg_current_wal_lsn() fails on a standby.
WITH here AS (
    SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn
)
SELECT here.lsn >= %(lsn)s::pg_lsn                                       AS replayed,
       here.lsn::text                                                    AS replay_lsn,
       (SELECT confirmed_flush_lsn >= %(lsn)s::pg_lsn FROM pg_replication_slots
         WHERE slot_name = %(slot)s)                                     AS confirmed,
       (SELECT confirmed_flush_lsn::text FROM pg_replication_slots
         WHERE slot_name = %(slot)s)                                     AS confirmed_flush_lsn
FROM here
