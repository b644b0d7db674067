-- Whether the server has a database of this name (a setup creates a chain's database on C when it has not).
SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s) AS present
