-- Ask B to stop replaying WAL (it keeps receiving it): B, and through it C, stand still without touching A.
SELECT pg_wal_replay_pause()
