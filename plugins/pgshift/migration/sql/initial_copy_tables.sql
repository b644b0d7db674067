-- On B: what the parallel initial copy reads of each table in scope (the given roots): the table itself, or each
-- leaf partition of a partitioned one (a COPY into the leaf on C needs no routing), with its size, its estimated
-- rows, the columns a COPY carries (not generated ones, in column order) and whether every column's type is
-- built in (binary COPY carries type OIDs of arrays and records: only built-in ones are the same on C).
WITH roots AS (
    SELECT c.oid, c.relkind, u.s AS root_schema, u.t AS root_table
    FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS u(s, t)
    JOIN pg_namespace n ON n.nspname = u.s
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = u.t
),
copied AS (  -- pg_partition_tree() lists nothing for a table that is not partitioned
    SELECT root_schema, root_table, oid AS relid FROM roots WHERE relkind = 'r'
    UNION ALL
    SELECT r.root_schema, r.root_table, pt.relid FROM roots r CROSS JOIN LATERAL pg_partition_tree(r.oid) pt
    WHERE r.relkind = 'p' AND pt.isleaf
)
SELECT r.root_schema,
       r.root_table,
       n.nspname                                                        AS schema,
       c.relname                                                        AS "table",
       pg_relation_size(c.oid)                                          AS bytes,
       greatest(c.reltuples, 0)::bigint                                 AS estimated_rows,
       current_setting('block_size')::int                              AS block_size,
       coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''),
                '{}')                                                   AS columns,
       NOT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                      AND (ty.oid >= 16384 OR ty.typelem >= 16384))    AS builtin_types
FROM copied r
JOIN pg_class c ON c.oid = r.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
ORDER BY 1, 2, 3, 4
