REVOKE GRANT OPTION FOR {privileges} ON {kind} {target} FROM {grantee}
