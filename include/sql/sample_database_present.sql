-- Whether A has the database (a second application's, made once).
SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s)
