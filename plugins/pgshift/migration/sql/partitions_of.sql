-- Partitions (at any depth) of the given partitioned tables, each with the table at its root: logical decoding
-- names a change by its partition, the cutover verifies the root.
SELECT pn.nspname  AS schema,
       p.relname   AS "table",
       rn.nspname  AS root_schema,
       r.relname   AS root_table
FROM pg_class p
JOIN pg_namespace pn ON pn.oid = p.relnamespace
JOIN pg_class r ON r.oid = pg_partition_root(p.oid)
JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE p.relispartition
  AND (rn.nspname, r.relname) IN (SELECT s, t FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS u(s, t))
