GRANT {privileges} ON {kind} {target} TO {grantee}
