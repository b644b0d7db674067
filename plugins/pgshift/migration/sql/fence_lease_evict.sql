-- On the fenced server: end the sessions of roles other than this session's that hold a switchover's lease key
-- (pgshift.lease: the lease is only pgshift's role's). Returns the sessions signalled.
SELECT l.pid, a.usename, pg_terminate_backend(l.pid) AS signalled
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s AND l.objid = %s AND l.objsubid = 2
  AND a.usename IS DISTINCT FROM current_user
