-- A role's connection limit (-1: none).
ALTER ROLE {role} CONNECTION LIMIT %(connection_limit)s
