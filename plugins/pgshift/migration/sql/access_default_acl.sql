-- ALTER DEFAULT PRIVILEGES entries: global ones, and those of the schemas whose ACL is migrated (see
-- access_objects.sql). A global entry replaces the built-in default, so `builtin` carries acldefault() for its
-- role and object type: a server without the entry has exactly that.
SELECT pg_get_userbyid(d.defaclrole) AS role,
       coalesce(n.nspname, '') AS schema,
       CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                            WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text END AS objtype,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(
                   CASE e.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(e.grantee) END,
                   e.privilege_type, e.is_grantable)), '[]'::jsonb)
          FROM aclexplode(d.defaclacl) e) AS acl,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(
                   CASE e.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(e.grantee) END,
                   e.privilege_type, e.is_grantable)), '[]'::jsonb)
          FROM aclexplode(acldefault((CASE d.defaclobjtype WHEN 'S' THEN 's' ELSE d.defaclobjtype END)::"char",
                                     d.defaclrole)) e
         WHERE d.defaclnamespace = 0) AS builtin
FROM pg_default_acl d
LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
WHERE d.defaclnamespace = 0
   OR (n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
       AND (%(all)s OR n.nspname = ANY (%(schemas)s::text[]) OR n.nspname = ANY (%(tschemas)s::text[])))
ORDER BY 1, 2, 3
