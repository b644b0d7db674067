SELECT greatest(reltuples, 0)::float8 AS reltuples FROM pg_class WHERE oid = %s::regclass
