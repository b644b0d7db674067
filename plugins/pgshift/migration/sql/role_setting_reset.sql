-- A role setting C has and A does not, in every database.
ALTER ROLE {role} RESET {setting}
