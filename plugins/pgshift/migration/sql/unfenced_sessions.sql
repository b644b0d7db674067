-- On A: client sessions still in the database after the fence, other than ours (they are not fenced).
SELECT pid, usename, application_name, state, xact_start IS NOT NULL AS in_transaction
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND NOT (usename = ANY (%s::text[]))
ORDER BY pid
