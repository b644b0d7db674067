SELECT rolname, rolcanlogin, rolreplication, rolsuper, rolbypassrls
FROM pg_roles
WHERE rolname = %s
