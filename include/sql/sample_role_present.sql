-- Whether A has the role (a second application's, made once).
SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s)
