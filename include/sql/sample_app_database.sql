-- A second application's database on A, owned by its role (so that the role owns the public schema and creates in
-- it: PostgreSQL 15 and later give public to pg_database_owner).
CREATE DATABASE {database} OWNER {role}
