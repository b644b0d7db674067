-- A role's password verifier as read from A's pg_authid (SCRAM or md5: stored as given, so the original password
-- keeps working), or NULL for no password. The statement carries a secret: never logged.
ALTER ROLE {role} PASSWORD %(verifier)s
