-- On C, before the subscription exists: the rows an earlier attempt of the initial copy left (B is the truth).
TRUNCATE {tables}
