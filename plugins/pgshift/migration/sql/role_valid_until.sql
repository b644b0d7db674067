-- Until when a role's password is valid ('infinity': always).
ALTER ROLE {role} VALID UNTIL %(valid_until)s
