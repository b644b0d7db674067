"""hybrid_aurora_migration: A -> hot standby B -> logical replication -> Aurora C, the verified cutover
and the way back C -> A."""
