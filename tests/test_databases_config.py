"""Several databases in one chain, as configuration: the names each database gets, what is refused, `*` resolved.

The databases themselves are exercised on real servers by the several-database chain tests."""

from __future__ import annotations

import pytest
from chain_helpers import chain_config

from pgshift.common.connections import connection_id, database_of
from pgshift.common.hooks.postgres import PgShiftHook
from pgshift.migration.config import ConfigError
from pgshift.migration.databases import resolve_databases, unmigrated_databases


def test_an_empty_list_is_the_chain_as_it_always_was() -> None:
    chain = chain_config()
    assert chain.database_chains() == [chain]
    assert chain.database is None and not chain.several_databases


def test_each_database_gets_its_connections_and_names() -> None:
    chain = chain_config(databases=["billing", "order_log"])
    first, second = chain.database_chains()
    assert (first.conn_a, first.conn_c, first.conn_b_subscription) == (
        f"{chain.conn_a}/billing", f"{chain.conn_c}/billing", f"{chain.conn_b_subscription}/billing")
    assert (first.slot_name, first.publication_name, first.dms_task_id) == (
        chain.slot_name, chain.publication_name, chain.dms_task_id)
    assert second.conn_b == f"{chain.conn_b}/order_log" and second.database == "order_log"
    assert second.slot_name == f"{chain.slot_name}_order_log"
    assert second.fallback_subscription_name == f"{chain.fallback_subscription_name}_order_log"
    assert second.dms_task_id == f"{chain.dms_task_id}-order-log"
    # the server's own parts stay the server's
    assert second.conn_a_replication == chain.conn_a_replication
    assert second.physical_slot_name == chain.physical_slot_name


def test_a_qualified_id_reaches_the_named_database_of_the_same_connection() -> None:
    assert (connection_id("pg_a/orders"), database_of("pg_a/orders"), database_of("pg_a")) == ("pg_a", "orders", None)
    hook = PgShiftHook("pg_a/orders")
    assert (hook.postgres_conn_id, hook.database, hook.conn_ref) == ("pg_a", "orders", "pg_a/orders")


@pytest.mark.parametrize(("databases", "says"), [
    (["*", "billing"], "stands alone"),
    (["Billing"], "not a database name"),
    (["billing", "billing"], "listed twice"),
    (["b" * 40], "longer than 63"),
])
def test_bad_databases_are_refused_naming_the_key(databases: list[str], says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        chain_config(databases=["first", *databases] if says.startswith("longer") else databases,
                     slot_name="s" * 30)
    assert "databases" in str(caught.value)


def test_star_is_what_a_has_and_a_named_database_must_be_there() -> None:
    chain = chain_config(databases=["*"])
    with pytest.raises(ValueError, match="not resolved"):
        chain.database_chains()
    assert resolve_databases(chain, ["app", "pgshift"]).databases == ("app", "pgshift")
    with pytest.raises(ConfigError, match="orders not on A"):
        resolve_databases(chain_config(databases=["app", "orders"]), ["app", "pgshift"])
    assert unmigrated_databases(chain_config(databases=["app"]), ["app", "pgshift"]) == ["pgshift"]
    assert unmigrated_databases(chain_config(), ["app", "pgshift"]) == []
