-- The sequences of a scope (sequences_in_scope.sql's rule), and the named ones (A's, read on C), with their
-- definition and the column that owns them (OWNED BY); an identity column's own sequence is the column's (it comes
-- and goes with it), so it is left out. Apart from sequences_in_scope.sql on purpose: that one's rows are the
-- cutover's typed positions (last values, identity sequences included), this one's the definitions compared.
SELECT s.schemaname                                       AS schema,
       s.sequencename                                     AS sequence,
       format('%%I.%%I', s.schemaname, s.sequencename)    AS qname,
       s.data_type::text                                  AS data_type,
       s.start_value::text                                AS start_value,
       s.increment_by::text                               AS increment_by,
       s.min_value::text                                  AS min_value,
       s.max_value::text                                  AS max_value,
       s.cache_size::text                                 AS cache_size,
       s.cycle                                            AS cycle,
       (SELECT format('%%I.%%I.%%I', tn.nspname, t.relname, a.attname)
          FROM pg_depend d
          JOIN pg_class t ON t.oid = d.refobjid
          JOIN pg_namespace tn ON tn.oid = t.relnamespace
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass
           AND d.objid = format('%%I.%%I', s.schemaname, s.sequencename)::regclass
           AND d.refclassid = 'pg_class'::regclass
           AND d.deptype = 'a')                           AS owned_by
FROM pg_sequences s
WHERE NOT EXISTS (SELECT 1
                    FROM pg_depend d
                   WHERE d.classid = 'pg_class'::regclass
                     AND d.objid = format('%%I.%%I', s.schemaname, s.sequencename)::regclass
                     AND d.deptype = 'i')
  AND (%(all)s
       OR s.schemaname = ANY (%(schemas)s::text[])
       OR (s.schemaname, s.sequencename) IN (SELECT u.s, u.n FROM unnest(%(seq_schemas)s::text[],
                                                                        %(seq_names)s::text[]) AS u(s, n))
       OR EXISTS (SELECT 1
                    FROM pg_depend d
                    JOIN pg_class t ON t.oid = d.refobjid
                    JOIN pg_namespace tn ON tn.oid = t.relnamespace
                   WHERE d.classid = 'pg_class'::regclass
                     AND d.objid = format('%%I.%%I', s.schemaname, s.sequencename)::regclass
                     AND d.deptype = 'a'
                     AND (tn.nspname, t.relname) IN (SELECT u.s, u.t FROM unnest(%(tschemas)s::text[],
                                                                               %(tnames)s::text[]) AS u(s, t))))
ORDER BY 1, 2
