-- What pgshift's role on C (this session's) holds of what the chain needs there, superuser or not (Aurora's master
-- user is not): one row. Read by TargetHook.role_rights; pgshift/migration/preflight/target_role.py says which
-- statement needs which right and names the GRANT for each one missing. Predefined roles are looked up by name, so
-- that a server without one reads false rather than failing; USAGE: the role has the group's privileges
-- (inherited), which is what PostgreSQL checks for each of them.
SELECT r.rolname,
       r.rolsuper,
       r.rolcreaterole,
       r.rolbypassrls,
       coalesce((SELECT pg_has_role(r.oid, g.oid, 'USAGE') FROM pg_roles g
                 WHERE g.rolname = 'pg_create_subscription'), false) AS create_subscription,
       has_database_privilege(r.oid, current_database(), 'CREATE') AS database_create,
       pg_has_role(r.oid, d.datdba, 'USAGE')                    AS database_owner,
       coalesce((SELECT pg_has_role(r.oid, g.oid, 'USAGE') FROM pg_roles g
                 WHERE g.rolname = 'pg_signal_backend'), false)      AS signal_backend,
       has_parameter_privilege(r.oid, 'pgshift.fence', 'SET')   AS fence_setting,
       current_database()                                       AS database,
       coalesce((SELECT pg_has_role(r.oid, g.oid, 'USAGE') FROM pg_roles g
                 WHERE g.rolname = 'pg_read_all_stats'), false)      AS read_all_stats,
       EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_superuser') AS aurora,
       coalesce((SELECT pg_has_role(r.oid, g.oid, 'MEMBER') FROM pg_roles g
                 WHERE g.rolname = 'rds_superuser'), false)          AS rds_superuser,
       -- Schemas the schema copy restores tables into that C has already.
       ARRAY(SELECT n.nspname::text FROM pg_namespace n
             WHERE n.nspname = ANY (%(schemas)s::text[])
               AND NOT has_schema_privilege(r.oid, n.oid, 'CREATE')
             ORDER BY n.nspname)                                AS schemas_without_create,
       -- Roles to be migrated that C has already: PostgreSQL 16 lets a CREATEROLE role alter (password,
       -- attributes, memberships) only roles it holds ADMIN OPTION on. Superusers on C are left alone by pgshift.
       ARRAY(SELECT t.rolname::text FROM pg_roles t
             WHERE t.rolname = ANY (%(roles)s::text[])
               AND t.oid <> r.oid AND NOT t.rolsuper
               AND NOT pg_has_role(r.oid, t.oid, 'MEMBER WITH ADMIN OPTION')
             ORDER BY t.rolname)                                AS roles_without_admin
FROM pg_roles r, pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()
