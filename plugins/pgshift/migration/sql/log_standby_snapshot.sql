-- On A: log a running-xacts record so that slot creation on the standby B can finish.
SELECT pg_log_standby_snapshot()::text AS lsn
