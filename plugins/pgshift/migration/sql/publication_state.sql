-- A publication's definition: all tables, or its schemas and explicitly listed tables; and its comment.
SELECT p.pubname,
       p.puballtables                                                        AS all_tables,
       coalesce((SELECT array_agg(n.nspname::text ORDER BY n.nspname)
                   FROM pg_publication_namespace pn JOIN pg_namespace n ON n.oid = pn.pnnspid
                  WHERE pn.pnpubid = p.oid), '{}')                           AS schemas,
       coalesce((SELECT array_agg(n.nspname || '.' || c.relname ORDER BY 1)
                   FROM pg_publication_rel pr JOIN pg_class c ON c.oid = pr.prrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE pr.prpubid = p.oid), '{}')                           AS tables,
       obj_description(p.oid, 'pg_publication')                              AS comment
FROM pg_publication p
WHERE p.pubname = %s
