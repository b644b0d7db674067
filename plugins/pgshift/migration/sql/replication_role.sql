-- A role's right to stream logical replication from this server: REPLICATION (or superuser), or on
-- Aurora/RDS membership of rds_replication (false where that role does not exist).
SELECT r.rolname,
       r.rolcanlogin,
       r.rolreplication,
       r.rolsuper,
       coalesce((SELECT pg_has_role(r.oid, g.oid, 'MEMBER') FROM pg_roles g WHERE g.rolname = 'rds_replication'),
                false) AS rds_replication
FROM pg_roles r
WHERE r.rolname = %s
