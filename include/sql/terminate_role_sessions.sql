-- On A: end every session of the fenced roles (waiting up to 5 s for each to exit).
SELECT pid, usename, datname, pg_terminate_backend(pid, 5000) AS terminated
FROM pg_stat_activity
WHERE usename = ANY (%s::text[])
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
