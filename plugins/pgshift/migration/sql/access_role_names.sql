-- Every role of this server, by name: a grant to a role C lacks is reported, not attempted.
SELECT rolname FROM pg_roles ORDER BY 1
