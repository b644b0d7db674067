-- The second application's tables, created as its role (which owns them): one with an identity column, one with a
-- bigserial, so that each has a sequence the cutover sets on C; the subscription's initial copy reads them as
-- replicator.
CREATE TABLE IF NOT EXISTS customers (
    id         int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    visits     int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS carts (
    id          bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    total       numeric(12, 2) NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON customers, carts TO replicator;
