-- On C: what the role this session logs in with (conn_c's) may do, read as the chain needs it
-- (pgshift/migration/preflight/target_role.py says which statement needs which right). Predefined roles are
-- looked up by name, so that a server without one reads false rather than failing; USAGE: the role has the
-- group's privileges (inherited), which is what PostgreSQL checks for each of them.
SELECT r.rolname                                               AS role,
       current_database()                                      AS database,
       r.rolsuper                                              AS superuser,
       r.rolcreaterole                                         AS createrole,
       has_database_privilege(r.oid, current_database(), 'CREATE') AS create_on_database,
       coalesce((SELECT pg_has_role(r.oid, g.oid, 'USAGE') FROM pg_roles g
                 WHERE g.rolname = 'pg_create_subscription'), false) AS create_subscription,
       coalesce((SELECT pg_has_role(r.oid, g.oid, 'USAGE') FROM pg_roles g
                 WHERE g.rolname = 'pg_signal_backend'), false)      AS signal_backend,
       coalesce((SELECT pg_has_role(r.oid, g.oid, 'USAGE') FROM pg_roles g
                 WHERE g.rolname = 'pg_read_all_stats'), false)      AS read_all_stats,
       EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_superuser') AS aurora,
       coalesce((SELECT pg_has_role(r.oid, g.oid, 'MEMBER') FROM pg_roles g
                 WHERE g.rolname = 'rds_superuser'), false)          AS rds_superuser,
       ARRAY(SELECT n.nspname::text FROM pg_namespace n
             WHERE n.nspname = ANY (%(schemas)s::text[])
               AND NOT has_schema_privilege(r.oid, n.oid, 'CREATE')
             ORDER BY n.nspname)                               AS schemas_without_create,
       -- Roles to be migrated that C has already: PostgreSQL 16 lets a CREATEROLE role alter (password,
       -- attributes, memberships) only roles it holds ADMIN OPTION on. Superusers on C are left alone by pgshift.
       ARRAY(SELECT t.rolname::text FROM pg_roles t
             WHERE t.rolname = ANY (%(roles)s::text[])
               AND t.oid <> r.oid AND NOT t.rolsuper
               AND NOT pg_has_role(r.oid, t.oid, 'MEMBER WITH ADMIN OPTION')
             ORDER BY t.rolname)                               AS roles_without_admin
FROM pg_roles r
WHERE r.rolname = current_user
