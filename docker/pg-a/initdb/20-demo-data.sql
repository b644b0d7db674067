-- pg-a: demo tables to migrate, in database pgshift (POSTGRES_DB; the image runs *.sql files there).
-- Both have primary keys, so UPDATE and DELETE replicate under a FOR ALL TABLES publication.

-- The subscription's initial copy reads the tables on B as `replicator`: it needs SELECT.
GRANT USAGE ON SCHEMA public TO replicator;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO replicator;

CREATE TABLE public.customers (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint         NOT NULL REFERENCES public.customers (id),
    amount      numeric(12, 2) NOT NULL,
    created_at  timestamptz    NOT NULL DEFAULT now()
);

INSERT INTO public.customers (name)
SELECT 'customer ' || g FROM generate_series(1, 1000) AS g;

INSERT INTO public.orders (customer_id, amount)
SELECT 1 + (g % 1000), round((random() * 1000)::numeric, 2) FROM generate_series(1, 20000) AS g;

GRANT SELECT ON ALL TABLES IN SCHEMA public TO replicator;
