-- One grantor's grant of membership in group to member (grantor: a role, or CURRENT_USER).
REVOKE {group} FROM {member} GRANTED BY {grantor}
