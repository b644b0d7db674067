-- On B: has B reached the given LSN? Its replay position while it is A's standby, its own once promoted
-- (action=promote_b). The CASE evaluates only the branch taken: pg_current_wal_lsn() fails on a standby.
WITH here AS (
    SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn
)
SELECT here.lsn >= %s::pg_lsn AS reached, here.lsn::text AS replay_lsn FROM here
