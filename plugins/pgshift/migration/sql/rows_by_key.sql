-- The rows of a table whose primary key is in a JSON array of keys, with their content hash.
SELECT (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(to_jsonb(t)) AS e
         WHERE e.key = ANY (%(pk)s::text[]))::text       AS key,
       hashtextextended(t::text, 0)::text                AS hash
FROM {table} AS t
WHERE ({pk_columns}) IN (SELECT {pk_columns} FROM jsonb_populate_recordset(NULL::{table}, %(keys)s::jsonb))
