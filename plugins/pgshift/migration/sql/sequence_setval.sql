-- On C: continue a sequence where A stopped (is_called: the next value follows), never moving it back.
SELECT setval(%(seq)s::regclass,
              greatest(%(value)s::bigint,
                       coalesce((SELECT last_value FROM pg_sequences
                                  WHERE schemaname = %(schema)s AND sequencename = %(name)s), %(value)s::bigint)),
              true)::text AS value
