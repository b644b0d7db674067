-- B's WAL replay: 'not paused', 'pause requested' or 'paused', and the position replayed so far.
SELECT pg_get_wal_replay_pause_state() AS state, pg_last_wal_replay_lsn()::text AS lsn
