-- On A: the given sessions that have not exited yet.
SELECT pid FROM pg_stat_activity WHERE pid = ANY (%s::int[])
