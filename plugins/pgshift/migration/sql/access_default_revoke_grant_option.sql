ALTER DEFAULT PRIVILEGES FOR ROLE {role} {in_schema} REVOKE GRANT OPTION FOR {privileges} ON {objtype} FROM {grantee}
