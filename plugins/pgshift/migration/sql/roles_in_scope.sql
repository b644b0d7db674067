-- The roles a migration of this scope needs: owners of the migrated schemas and of every relation, function and
-- type in them (for chosen tables: those tables, their sequences and their schemas), every grantee and grantor
-- in their ACLs (column ACLs included) and in the default ACLs of those schemas or global ones, the roles of
-- policies on the migrated relations, and the named roles; closed over memberships both ways (groups of these
-- roles and their members, recursively). Never PUBLIC, never a predefined role (pg_*); excluded names removed last.
WITH RECURSIVE
schemas AS (
    SELECT n.oid, n.nspowner, n.nspacl,
           (%(all)s OR n.nspname = ANY (%(schemas)s::text[])) AS whole
    FROM pg_namespace n
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_%%'
      AND (%(all)s OR n.nspname = ANY (%(schemas)s::text[]) OR n.nspname = ANY (%(tschemas)s::text[]))
),
chosen AS (
    SELECT c.oid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN unnest(%(tschemas)s::text[], %(tnames)s::text[]) AS u(s, t) ON n.nspname = u.s AND c.relname = u.t
),
relations AS (
    SELECT c.oid, c.relowner, c.relacl
    FROM pg_class c
    WHERE c.relkind IN ('r', 'p', 'S', 'v', 'm', 'f', 'c')
      AND (c.relnamespace IN (SELECT oid FROM schemas WHERE whole)
           OR c.oid IN (SELECT oid FROM chosen)
           OR c.oid IN (SELECT d.objid FROM pg_depend d  -- serial and identity sequences of chosen tables
                        WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                          AND d.deptype IN ('a', 'i') AND d.refobjid IN (SELECT oid FROM chosen)))
),
owners_and_acls (owner, acl) AS (
    SELECT nspowner, nspacl FROM schemas
    UNION ALL SELECT relowner, relacl FROM relations
    UNION ALL SELECT NULL, a.attacl FROM pg_attribute a WHERE a.attrelid IN (SELECT oid FROM relations)
    UNION ALL SELECT p.proowner, p.proacl FROM pg_proc p
              WHERE p.pronamespace IN (SELECT oid FROM schemas WHERE whole)
    UNION ALL SELECT t.typowner, t.typacl FROM pg_type t
              WHERE t.typnamespace IN (SELECT oid FROM schemas WHERE whole)
    UNION ALL SELECT d.defaclrole, d.defaclacl FROM pg_default_acl d
              WHERE d.defaclnamespace = 0 OR d.defaclnamespace IN (SELECT oid FROM schemas)
),
seed (oid) AS (
    SELECT owner FROM owners_and_acls WHERE owner IS NOT NULL
    UNION SELECT x.grantee FROM owners_and_acls o, aclexplode(o.acl) x
    UNION SELECT x.grantor FROM owners_and_acls o, aclexplode(o.acl) x
    UNION SELECT unnest(p.polroles) FROM pg_policy p WHERE p.polrelid IN (SELECT oid FROM relations)
    UNION SELECT r.oid FROM pg_roles r WHERE r.rolname = ANY (%(named)s::text[])
),
closure (oid) AS (
    SELECT r.oid FROM seed s JOIN pg_roles r ON r.oid = s.oid WHERE r.rolname NOT LIKE 'pg\_%%'
    UNION
    SELECT r.oid
    FROM closure c
    JOIN pg_auth_members m ON c.oid IN (m.member, m.roleid)
    JOIN pg_roles r ON r.oid = CASE WHEN m.member = c.oid THEN m.roleid ELSE m.member END
    WHERE r.rolname NOT LIKE 'pg\_%%'
)
SELECT r.rolname AS role
FROM closure c
JOIN pg_roles r ON r.oid = c.oid
WHERE r.rolname <> ALL (%(exclude)s::text[])
ORDER BY 1
