-- Client sessions in this database other than pgshift's (application_name 'pgshift') that were busy since a
-- point in time, or are in a transaction holding an xid (writing) now.
SELECT pid,
       usename::text                AS role,
       application_name,
       client_addr::text            AS client_addr,
       backend_start::text          AS backend_start,
       state,
       state_change::text           AS state_change,
       (backend_xid IS NOT NULL)    AS writing_now
FROM pg_stat_activity
WHERE datname = current_database()
  AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()
  AND application_name <> 'pgshift'
  AND (state_change >= to_timestamp(%(since)s) OR backend_start >= to_timestamp(%(since)s)
       OR backend_xid IS NOT NULL)
ORDER BY pid
