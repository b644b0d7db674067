-- B replays WAL again.
SELECT pg_wal_replay_resume()
