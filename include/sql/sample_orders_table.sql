-- The demo's application table on A, and a replica identity for pgbench_history (it has no primary key).
CREATE TABLE IF NOT EXISTS orders (
    id         bigserial PRIMARY KEY,
    customer   int NOT NULL,
    amount     numeric(12, 2) NOT NULL,
    note       text,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE pgbench_history REPLICA IDENTITY FULL;
