-- A role's attributes (attributes: keywords such as LOGIN NOCREATEDB, from roles.py's whitelist).
ALTER ROLE {role} WITH {attributes}
