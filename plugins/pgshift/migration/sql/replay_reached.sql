-- On B: has replay passed the given LSN of A?
SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn AS reached, pg_last_wal_replay_lsn()::text AS replay_lsn
