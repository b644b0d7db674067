-- On A: the database-level default_transaction_read_only set by ALTER DATABASE, if any (NULL: not set).
SELECT (SELECT substr(c, length('default_transaction_read_only=') + 1)
          FROM unnest(s.setconfig) AS c
         WHERE c LIKE 'default\_transaction\_read\_only=%%') AS value
FROM pg_database d
LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
WHERE d.datname = current_database()
