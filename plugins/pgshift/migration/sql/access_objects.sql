-- The migrated objects with their owner, ACL (a NULL ACL read as acldefault(), so "never granted" equals the
-- default), and for tables row level security, policies and column ACLs. In scope: every object of a migrated
-- schema (all non-system schemas when every table is migrated); a migrated table with the sequences it owns;
-- the schema holding a migrated table (its owner and ACL, not its other objects). Extension members are left
-- out: their owner and ACL belong to CREATE EXTENSION on each server. A routine's identity names its argument
-- types only (public.f(integer)); `args` is what ALTER/GRANT name it by (pg_get_function_identity_arguments).
WITH schemas AS (
    SELECT n.oid, n.nspname, n.nspowner, n.nspacl,
           (%(all)s OR n.nspname = ANY (%(schemas)s::text[])) AS whole
    FROM pg_namespace n
    WHERE n.nspname <> 'information_schema'
      AND n.nspname NOT LIKE 'pg\_%%'
      AND (%(all)s OR n.nspname = ANY (%(schemas)s::text[]) OR n.nspname = ANY (%(tschemas)s::text[]))
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                                                  AND d.objid = n.oid AND d.deptype = 'e')
), named AS (
    SELECT c.oid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE (n.nspname, c.relname) IN (SELECT u.s, u.t FROM unnest(%(tschemas)s::text[], %(tnames)s::text[]) AS u(s, t))
), relations AS (
    SELECT c.oid, s.nspname, c.relname, c.relkind, c.relowner, c.relacl, c.relrowsecurity, c.relforcerowsecurity,
           (SELECT format('%%I.%%I', tn.nspname, t.relname)
              FROM pg_depend d
              JOIN pg_class t ON t.oid = d.refobjid
              JOIN pg_namespace tn ON tn.oid = t.relnamespace
             WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid
               AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
             LIMIT 1) AS owned_by,
           (SELECT d.refobjid
              FROM pg_depend d
             WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid
               AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
             LIMIT 1) AS owner_table
    FROM pg_class c
    JOIN schemas s ON s.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                                  AND d.objid = c.oid AND d.deptype = 'e')
), objects AS (
    SELECT 'schema' AS kind, NULL::text AS schema, s.nspname AS name, NULL::text AS args,
           format('%%I', s.nspname) AS identity, s.nspowner AS owner_oid,
           coalesce(s.nspacl, acldefault('n', s.nspowner)) AS acl, NULL::oid AS relid, NULL::text AS owned_by
    FROM schemas s
    UNION ALL
    SELECT CASE r.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                          ELSE 'table' END,
           r.nspname, r.relname, NULL, format('%%I.%%I', r.nspname, r.relname), r.relowner,
           coalesce(r.relacl, acldefault((CASE r.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", r.relowner)),
           r.oid, r.owned_by
    FROM relations r
    JOIN schemas s ON s.nspname = r.nspname
    WHERE s.whole OR r.oid IN (SELECT oid FROM named) OR r.owner_table IN (SELECT oid FROM named)
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
           s.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
           format('%%I.%%I(%%s)', s.nspname, p.proname, oidvectortypes(p.proargtypes)), p.proowner,
           coalesce(p.proacl, acldefault('f', p.proowner)), NULL, NULL
    FROM pg_proc p
    JOIN schemas s ON s.oid = p.pronamespace
    WHERE s.whole
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                                  AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END,
           s.nspname, t.typname, NULL, format('%%I.%%I', s.nspname, t.typname), t.typowner,
           coalesce(t.typacl, acldefault('T', t.typowner)), NULL, NULL
    FROM pg_type t
    JOIN schemas s ON s.oid = t.typnamespace
    WHERE s.whole
      AND (t.typtype IN ('e', 'd')
           OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                                                  AND d.objid = t.oid AND d.deptype = 'e')
)
SELECT o.kind, o.schema, o.name, o.args, o.identity, pg_get_userbyid(o.owner_oid) AS owner,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(
                   CASE e.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(e.grantee) END,
                   e.privilege_type, e.is_grantable)), '[]'::jsonb)
          FROM aclexplode(o.acl) e) AS acl,
       r.relrowsecurity AS rls, r.relforcerowsecurity AS force_rls,
       CASE WHEN r.relkind IN ('r', 'p') THEN
           (SELECT coalesce(array_agg(format('%%I %%s FOR %%s TO %%s', p.policyname, p.permissive, p.cmd,
                                             (SELECT string_agg(x, ', ' ORDER BY x) FROM unnest(p.roles) x))
                                      || coalesce(' USING (' || p.qual || ')', '')
                                      || coalesce(' WITH CHECK (' || p.with_check || ')', '')
                                      ORDER BY p.policyname), '{}')
              FROM pg_policies p
             WHERE p.schemaname = r.nspname AND p.tablename = r.relname)
       END AS policies,
       (SELECT jsonb_object_agg(a.attname,
                   (SELECT coalesce(jsonb_agg(jsonb_build_array(
                               CASE e.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(e.grantee) END,
                               e.privilege_type, e.is_grantable)), '[]'::jsonb)
                      FROM aclexplode(a.attacl) e))
          FROM pg_attribute a
         WHERE a.attrelid = o.relid AND a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL
       ) AS column_acl,
       o.owned_by
FROM objects o
LEFT JOIN relations r ON r.oid = o.relid
ORDER BY o.kind, o.identity
