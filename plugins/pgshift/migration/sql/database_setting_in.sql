-- On A: the value of a setting stored with the named database by ALTER DATABASE ... SET: no row when the database
-- does not exist, a NULL value when the setting is not set (the fence of several databases reads each one's
-- default_transaction_read_only before it changes it).
SELECT (SELECT substr(c, length(%(name)s) + 2)
          FROM unnest(s.setconfig) AS c
         WHERE split_part(c, '=', 1) = %(name)s) AS value
FROM pg_database d
LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
WHERE d.datname = %(database)s
