-- On A: the roles a cutover would fence, as they are now.
SELECT rolname, rolcanlogin, rolsuper, rolreplication, rolbypassrls
FROM pg_roles
WHERE rolname = ANY (%s::text[])
ORDER BY rolname
