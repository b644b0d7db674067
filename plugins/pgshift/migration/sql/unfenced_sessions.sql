-- On A: client sessions still in the fenced databases after the fence (every database of a chain of several, not
-- only this session's), of roles the fence leaves alone. pgshift's own sessions (its role, application_name
-- pgshift: each database of a chain has its own) are not the application's and are left out.
SELECT pid, usename, datname AS database, application_name, state, xact_start IS NOT NULL AS in_transaction
FROM pg_stat_activity
WHERE datname = ANY (%(databases)s::text[])
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND NOT (usename = ANY (%(roles)s::text[]))
  AND NOT (usename = current_user AND application_name = 'pgshift')
ORDER BY datname, pid
