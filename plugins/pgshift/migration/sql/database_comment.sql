-- The current database's comment (NULL: none): where the fence marker is kept when it cannot be a setting.
SELECT shobj_description(d.oid, 'pg_database') AS comment FROM pg_database d WHERE d.datname = current_database()
