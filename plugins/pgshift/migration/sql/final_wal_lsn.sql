-- On A after the fence: the end of everything inserted into WAL, so every commit (async ones too) is before it.
SELECT pg_current_wal_insert_lsn()::text AS lsn
