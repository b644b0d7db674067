-- On A: the fence marker a cutover left on this database (NULL: none).
SELECT (SELECT substr(c, length('pgshift.fence=') + 1)
          FROM unnest(s.setconfig) AS c
         WHERE c LIKE 'pgshift.fence=%%') AS value
FROM pg_database d
LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
WHERE d.datname = current_database()
