-- On B, before and after its promotion (action=promote_b): is it still a standby, how far it received and replayed
-- A's WAL, its own position once promoted, and how many bytes of A's WAL (A's position %(a_lsn)s, when A answered)
-- it had not received: the data lost with A. The CASEs evaluate only the branch taken: pg_current_wal_lsn() fails
-- on a standby.
SELECT pg_is_in_recovery()                                                   AS in_recovery,
       pg_last_wal_receive_lsn()::text                                       AS received_lsn,
       pg_last_wal_replay_lsn()::text                                        AS replayed_lsn,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
       CASE WHEN %(a_lsn)s::pg_lsn IS NULL OR pg_last_wal_receive_lsn() IS NULL THEN NULL
            ELSE greatest(pg_wal_lsn_diff(%(a_lsn)s::pg_lsn, pg_last_wal_receive_lsn()), 0)::bigint
       END                                                                   AS unreceived_bytes
