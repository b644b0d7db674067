-- A new role with its attributes (attributes: keywords such as NOLOGIN CREATEDB, from roles.py's whitelist).
CREATE ROLE {role} WITH {attributes}
