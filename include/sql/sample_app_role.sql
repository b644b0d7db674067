-- A second application's own role on A: it logs in with its password and owns its database's tables.
CREATE ROLE {role} LOGIN PASSWORD %s
