-- Membership of member in group with PostgreSQL 16's options (booleans).
GRANT {group} TO {member} WITH ADMIN %(admin)s, INHERIT %(inherit)s, SET %(set)s
