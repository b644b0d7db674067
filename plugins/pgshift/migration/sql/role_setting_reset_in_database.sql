-- A role setting C has and A does not, in one database (named; not necessarily this session's).
ALTER ROLE {role} IN DATABASE {database} RESET {setting}
