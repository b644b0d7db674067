-- On A: signal every session of the fenced roles at once (their exit is awaited with role_sessions_left).
SELECT pid, usename, datname, pg_terminate_backend(pid) AS signalled
FROM pg_stat_activity
WHERE usename = ANY (%s::text[])
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
