-- On A: sequences owned by a table in scope, or in a schema in scope, with their position.
SELECT s.schemaname AS schema, s.sequencename AS sequence, s.last_value::text AS last_value,
       s.start_value::text AS start_value
FROM pg_sequences s
WHERE %(all)s
   OR s.schemaname = ANY (%(schemas)s::text[])
   OR EXISTS (SELECT 1
                FROM pg_depend d
                JOIN pg_class t ON t.oid = d.refobjid
                JOIN pg_namespace tn ON tn.oid = t.relnamespace
               WHERE d.classid = 'pg_class'::regclass
                 AND d.objid = format('%%I.%%I', s.schemaname, s.sequencename)::regclass
                 AND d.deptype IN ('a', 'i')
                 AND (tn.nspname, t.relname) IN (SELECT u.s, u.t FROM unnest(%(tschemas)s::text[],
                                                                           %(tnames)s::text[]) AS u(s, t)))
ORDER BY 1, 2
