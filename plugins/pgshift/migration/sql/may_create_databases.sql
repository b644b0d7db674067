-- Whether this session's role may CREATE DATABASE (CREATEDB, or superuser): a setup creates on C each database of
-- the chain that C has not (Aurora's master user has CREATEDB).
SELECT rolcreatedb OR rolsuper AS may
FROM pg_roles
WHERE rolname = current_user
