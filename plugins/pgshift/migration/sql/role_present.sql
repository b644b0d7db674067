-- Whether the server has a role of this name.
SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s) AS present
