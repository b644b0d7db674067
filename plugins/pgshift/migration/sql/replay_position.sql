SELECT pg_last_wal_replay_lsn()::text AS lsn
