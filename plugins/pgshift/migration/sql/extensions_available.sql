-- On C: which of these extensions it could install (pg_available_extensions), and which version it has.
SELECT name, default_version, installed_version FROM pg_available_extensions WHERE name = ANY (%s::text[]) ORDER BY 1
