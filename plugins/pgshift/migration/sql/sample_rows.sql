-- Up to %(n)s rows sampled from a table: the primary key as JSON and the row's content hash.
SELECT (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(to_jsonb(t)) AS e
         WHERE e.key = ANY (%(pk)s::text[]))::text       AS key,
       hashtextextended(t::text, 0)::text                AS hash
FROM {table} AS t TABLESAMPLE BERNOULLI (%(percent)s)
LIMIT %(n)s
