GRANT {privileges} ON {kind} {target} TO {grantee} WITH GRANT OPTION
