-- Act as another role until this transaction ends (the login proof without a connection of the role's own).
SET LOCAL ROLE {role}
