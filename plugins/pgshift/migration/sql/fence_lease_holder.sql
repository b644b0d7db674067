-- On the fenced server: the backend that holds a switchover's lease in this database (none: no switchover is
-- alive), its role, and whether that role is this session's (pgshift's): any other holder is an impostor.
SELECT l.pid, a.application_name, a.backend_start, a.usename, coalesce(a.usename = current_user, false) AS ours
FROM pg_locks l
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s AND l.objid = %s AND l.objsubid = 2
