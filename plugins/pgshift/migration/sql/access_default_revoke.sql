ALTER DEFAULT PRIVILEGES FOR ROLE {role} {in_schema} REVOKE {privileges} ON {objtype} FROM {grantee}
