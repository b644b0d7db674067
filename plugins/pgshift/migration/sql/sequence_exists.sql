-- On C: is the sequence there, and where is it?
SELECT last_value::text AS last_value FROM pg_sequences WHERE schemaname = %s AND sequencename = %s
