REVOKE {privileges} ON {kind} {target} FROM {grantee}
