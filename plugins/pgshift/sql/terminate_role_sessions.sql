-- Signal every session of these roles at once: the fenced roles on A (their exit is awaited with
-- role_sessions_left), or on C the roles a rolled-back cutover takes LOGIN back from.
SELECT pid, usename, datname, pg_terminate_backend(pid) AS signalled
FROM pg_stat_activity
WHERE usename = ANY (%s::text[])
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
