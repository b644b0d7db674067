ALTER DEFAULT PRIVILEGES FOR ROLE {role} {in_schema} GRANT {privileges} ON {objtype} TO {grantee}
