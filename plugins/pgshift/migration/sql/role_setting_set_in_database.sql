-- The role's setting in one database (any of the server's, named: a chain of several databases sets every one's from
-- one session), as this transaction has it (see role_setting_stage.sql).
ALTER ROLE {role} IN DATABASE {database} SET {setting} FROM CURRENT
