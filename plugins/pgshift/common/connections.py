"""Database-qualified connection ids: ``pg_a/orders`` is the Airflow connection ``pg_a`` in the database ``orders``
(see :mod:`pgshift.common.hooks.postgres`). Standard library only: the chain's configuration uses it when a DAG file
is parsed."""

from __future__ import annotations

DATABASE_SEPARATOR = "/"  # between a connection id and a database name: ``pg_a/orders``


def connection_id(conn_ref: str) -> str:
    """The Airflow connection id of a possibly database-qualified id (``pg_a/orders`` -> ``pg_a``)."""
    return conn_ref.partition(DATABASE_SEPARATOR)[0]


def database_of(conn_ref: str) -> str | None:
    """The database a qualified id names (``pg_a/orders`` -> ``orders``); None for a plain connection id."""
    return conn_ref.partition(DATABASE_SEPARATOR)[2] or None


def in_database(conn_ref: str, database: str) -> str:
    """``conn_ref``'s connection in ``database`` (``pg_a``, ``orders`` -> ``pg_a/orders``)."""
    return f"{connection_id(conn_ref)}{DATABASE_SEPARATOR}{database}"
