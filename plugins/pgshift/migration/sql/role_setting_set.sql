-- The role's setting in every database, as this transaction has it (see role_setting_stage.sql).
ALTER ROLE {role} SET {setting} FROM CURRENT
