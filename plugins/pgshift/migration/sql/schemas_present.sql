SELECT nspname AS schema FROM pg_namespace WHERE nspname = ANY (%s::text[]) ORDER BY 1
