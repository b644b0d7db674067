-- A role setting C has and A does not, in this database.
ALTER ROLE {role} IN DATABASE {database} RESET {setting}
