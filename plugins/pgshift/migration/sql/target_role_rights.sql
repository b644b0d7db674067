-- What pgshift's role on C (this session's) holds of what the chain needs there, superuser or not (Aurora's master
-- user is not): one row. Read by TargetHook.role_rights (preflight's refusals name the GRANT for what is false).
SELECT r.rolname,
       r.rolsuper,
       r.rolcreaterole,
       r.rolbypassrls,
       pg_has_role(r.oid, 'pg_create_subscription', 'MEMBER') AS create_subscription,
       has_database_privilege(r.oid, current_database(), 'CREATE') AS database_create,
       pg_has_role(r.oid, d.datdba, 'USAGE') AS database_owner,
       pg_has_role(r.oid, 'pg_signal_backend', 'USAGE') AS signal_backend,
       has_parameter_privilege(r.oid, 'pgshift.fence', 'SET') AS fence_setting
FROM pg_roles r, pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()
