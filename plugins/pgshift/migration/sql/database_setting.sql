-- On A: the value of a setting stored with this database by ALTER DATABASE ... SET (NULL: not set), e.g.
-- default_transaction_read_only (what a fence changes) or pgshift.fence (the fence marker).
SELECT (SELECT substr(c, length(%(name)s) + 2)
          FROM unnest(s.setconfig) AS c
         WHERE split_part(c, '=', 1) = %(name)s) AS value
FROM pg_database d
LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
WHERE d.datname = current_database()
