-- The functions the given tables use (in a column default or generation expression, a constraint, a trigger),
-- outside the system schemas, with their definitions.
WITH rels AS (
    SELECT c.oid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN unnest(%(rel_schemas)s::text[], %(rel_names)s::text[]) AS u(s, t) ON u.s = n.nspname AND u.t = c.relname
), used AS (
    SELECT d.refobjid AS fn
    FROM pg_depend d
    JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
    WHERE d.refclassid = 'pg_proc'::regclass AND ad.adrelid IN (SELECT oid FROM rels)
    UNION
    SELECT d.refobjid
    FROM pg_depend d
    JOIN pg_constraint k ON d.classid = 'pg_constraint'::regclass AND k.oid = d.objid
    WHERE d.refclassid = 'pg_proc'::regclass AND k.conrelid IN (SELECT oid FROM rels)
    UNION
    SELECT g.tgfoid FROM pg_trigger g WHERE NOT g.tgisinternal AND g.tgrelid IN (SELECT oid FROM rels)
)
SELECT n.nspname                                                                               AS schema,
       p.proname                                                                               AS name,
       format('%%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS signature,
       pg_get_functiondef(p.oid)                                                               AS definition
FROM used
JOIN pg_proc p ON p.oid = used.fn
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%%'
  AND p.prokind IN ('f', 'p')
ORDER BY 3
