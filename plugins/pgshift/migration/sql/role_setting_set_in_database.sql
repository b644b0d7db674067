-- The role's setting in this database, as this transaction has it (see role_setting_stage.sql).
ALTER ROLE {role} IN DATABASE {database} SET {setting} FROM CURRENT
