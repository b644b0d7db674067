"""Validation and the cutover gate of a chain of three databases, on real servers.

The chain: ``pgshift`` set up by the DAG as always (its first database: the names as given), then ``billing`` and
``shop`` on A, each with its own publication on A, logical slot on B and subscription on C, made here with the
single-database pieces (the hooks' statements, :func:`create_on_standby`) for each part of
:meth:`ChainConfig.database_chains`, not by the setup operators (another part of issue 23 makes those loop over the
databases). The databases are dropped again when the module ends (the harness's reset knows ``pgshift`` only).

The scenarios share the chain and run in file order; the last two drop ``shop`` from A, then cut ``pgshift`` and
``billing`` over by hand with the way back armed (as the cutover leaves them), to validate the way back per
database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chain_helpers import (
    CaptureFds,
    chain_conf,
    chain_config,
    drop_database,
    run_dag,
    set_up_chain,
    sql,
    task_states,
    wait_for,
)
from pgcluster import C_REPLICATION_ROLE

from pgshift.common.report import safe_name

DATABASES = ["pgshift", "billing", "shop"]
EXTRA = DATABASES[1:]
TABLES = ("public.accounts", "public.entries")
SCHEMA = ("CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL); "
          "CREATE TABLE entries (id bigserial PRIMARY KEY, account int NOT NULL, amount numeric NOT NULL)")


def test_the_gate_of_a_dms_chain_reads_each_databases_task_and_a_chain_of_one_keeps_its_keys():
    from pgshift.migration.checks.gate import ChainDatabasesCheck, GateSpec

    spec = GateSpec.of(chain_config(mode="dms", databases=["orders", "billing"], dms_task_id="task"))
    assert [key for key, _ in spec.checks] == ["databases", "a_to_b", "b_to_c/orders", "dms/orders",
                                               "b_to_c/billing", "dms/billing"]
    checks = dict(spec.checks)
    assert checks["databases"] == ChainDatabasesCheck(conn_a="pgshift_a", databases="orders,billing")
    assert (checks["dms/orders"].task_id, checks["dms/billing"].task_id) == ("task", "task-billing")
    assert (checks["b_to_c/orders"].conn_b, checks["b_to_c/billing"].conn_b) == ("pgshift_b/orders",
                                                                                  "pgshift_b/billing")
    assert dict(spec.databases) == {k: k.split("/")[1] for k, _ in spec.checks if "/" in k}
    assert [key for key, _ in GateSpec.of(chain_config()).checks] == ["a_to_b", "b_to_c", "subscription"]


def test_a_chain_database_missing_on_a_is_fatal_and_named():
    from pgshift.migration.checks.gate import databases_reading

    missing = databases_reading(["orders", "billing"], ["orders", "postgres"])
    assert (missing.done, missing.fatal, missing.details["missing"]) == (False, True, ["billing"])
    assert missing.message.startswith("database(s) billing of the chain not on A")
    assert "refused before the fence" in missing.message
    present = databases_reading(["orders"], ["orders", "postgres"])
    assert (present.done, present.fatal) == (True, False)


def test_the_chart_series_per_database_and_for_a_chain_of_one():
    from pgshift.common.chart import lag_series

    single = {"started_at": "2026-12-06T10:00:00+00:00", "figures": {"a_to_b_lag_bytes": 5, "b_to_c_lag_bytes": 7}}
    several = {"started_at": "2026-12-06T11:00:00+00:00", "figures": {"a_to_b_lag_bytes": 3},
               "databases": {"orders": {"figures": {"b_to_c_lag_bytes": 1}},
                             "billing": {"figures": {"b_to_c_lag_bytes": 2}}}}
    series = {label: [v for _, v in xy] for label, _, xy in lag_series([single, several])}
    assert series == {"A -> B (bytes)": [5, 3], "B -> C (bytes)": [7], "B -> C orders (bytes)": [1],
                      "B -> C billing (bytes)": [2]}


def parts(cl):
    return {part.database: part for part in chain_config(cl, databases=DATABASES).database_chains()}


def drop_extra_databases(cl) -> None:
    """The extra databases gone from C, B and A, with their subscriptions and slots."""
    for name in EXTRA:
        drop_database(cl, name)


def add_database(cl, part) -> None:
    """One more database in the chain: its tables and rows on A, the same tables on C, and its publication, slot and
    subscription, named as its part of the chain names them."""
    from pgshift.migration.hooks.base import MigrationHook
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.scope import Scope
    from pgshift.migration.setup.standby_slot import create_on_standby

    name = part.database
    sql(cl, cl.a, f'CREATE DATABASE "{name}"', db="postgres")
    sql(cl, cl.a, SCHEMA, db=name)
    sql(cl, cl.a, "INSERT INTO accounts SELECT i, 'owner ' || i, i * 10 FROM generate_series(1, 300) i; "
                  "INSERT INTO entries (account, amount) SELECT 1 + i % 300, i FROM generate_series(1, 500) i; "
                  "GRANT SELECT ON ALL TABLES IN SCHEMA public TO replicator", db=name)
    sql(cl, cl.c, f'CREATE DATABASE "{name}" OWNER postgres', db="postgres")
    sql(cl, cl.c, SCHEMA, db=name)
    with PrimaryHook(part.conn_a) as a:
        a.create_publication(part.publication_name, Scope.from_params(part.schemas, part.tables).publication_objects())
        lsn = a.current_wal_lsn()
    wait_for(lambda: sql(cl, cl.b, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0], 30,
             what=f"B replaying {name}'s publication")
    with PrimaryHook(part.conn_a) as a, StandbyHook(part.conn_b) as b:
        create_on_standby(a, b, part.slot_name, part.slot_plugin, timeout=60)
    conninfo = MigrationHook(part.conn_b_subscription).libpq_dsn(application_name=part.subscription_name)
    with TargetHook(part.conn_c) as c:
        c.create_subscription(part.subscription_name, part.publication_name, conninfo, part.slot_name)


def synced(cl, name: str) -> bool:
    """Every table of ``name``'s subscription on C ready, and its rows as many as A's."""
    states = sql(cl, cl.c, "SELECT srsubstate FROM pg_subscription_rel", db=name)
    return bool(states) and {s for (s,) in states} == {"r"} and all(
        sql(cl, cl.a, f"SELECT count(*) FROM {t}", db=name) == sql(cl, cl.c, f"SELECT count(*) FROM {t}", db=name)
        for t in TABLES)


@pytest.fixture(scope="module")
def chain(clusters, tmp_path_factory):
    drop_extra_databases(clusters)  # (a session that died here left them)
    set_up_chain(clusters)
    for name in EXTRA:
        add_database(clusters, parts(clusters)[name])
    for name in EXTRA:
        wait_for(lambda name=name: synced(clusters, name), 90, interval=0.5, what=f"C's copy of {name}")
    yield tmp_path_factory.mktemp("reports")
    drop_extra_databases(clusters)


def validate(cl, reports: Path, **overrides):
    conf = chain_conf(cl, action="validate", report_dir=str(reports), **{"databases": DATABASES, **overrides})
    with CaptureFds() as out:
        dag_run = run_dag(conf)
    report = json.loads((reports / "validate" / f"{safe_name(dag_run.run_id)}.json").read_text())
    return dag_run, report, out.text


def test_a_healthy_chain_reports_each_database_and_table(clusters, chain):
    dag_run, report, text = validate(clusters, chain)
    assert str(dag_run.state) == "success", text[-3000:]
    assert task_states(dag_run)["validate"] == "success"
    assert report["problems"] == []
    assert list(report["databases"]) == DATABASES
    # The cluster's figures once (A -> B); each database's slot and subscription in its section.
    assert report["figures"]["b_receiver_status"] == "streaming"
    assert "b_to_c_lag_bytes" not in report["figures"]
    for name, section in report["databases"].items():
        assert section["problems"] == [], name
        assert section["figures"]["slot_wal_status"] == "reserved", name
        assert section["figures"]["b_to_c_lag_bytes"] is not None, name
        assert section["figures"]["apply_error_count"] == 0, name
    # The preflight's checks per database (its tables in scope), B once; a note shared by databases said once.
    assert report["preflight"]["b_version"] and report["preflight"]["a_version"]
    assert [report["databases"][name]["preflight"]["tables_in_scope"] for name in EXTRA] == [2, 2]
    assert len(report["notes"]) == len(set(report["notes"]))
    # Each database's own tables, each compared on B and C.
    for name in EXTRA:
        parity = {p["table"]: p for p in report["databases"][name]["parity"]}
        assert set(parity) == set(TABLES), name
        assert all(p["status"] == "equal" and p["compared"] > 0 for p in parity.values()), parity
    pgshift_tables = {p["table"] for p in report["databases"]["pgshift"]["parity"]}
    assert "public.orders" in pgshift_tables and not pgshift_tables & {"public.accounts", "public.entries"}
    # A's database the chain leaves behind is said, not refused.
    on_a = sql(clusters, clusters.a, "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                                     "ORDER BY 1", db="postgres")
    assert report["unmigrated_databases"] == [name for (name,) in on_a if name not in DATABASES]
    assert "postgres" in report["unmigrated_databases"]
    assert any(n.startswith("database postgres of A is not migrated by this chain") for n in report["notes"])


def test_a_disabled_subscription_is_named_with_its_database_only(clusters, chain):
    shop = parts(clusters)["shop"]
    sql(clusters, clusters.c, f"ALTER SUBSCRIPTION {shop.subscription_name} DISABLE", db="shop")
    try:
        dag_run, report, text = validate(clusters, chain, parity="off")
    finally:
        sql(clusters, clusters.c, f"ALTER SUBSCRIPTION {shop.subscription_name} ENABLE", db="shop")
    assert str(dag_run.state) == "failed"
    assert report["problems"], report
    assert all(p.startswith("database shop: ") for p in report["problems"]), report["problems"]
    assert any(shop.subscription_name in p and "disabled" in p for p in report["problems"]), report["problems"]
    assert f"  - database shop: subscription {shop.subscription_name!r}" in text
    assert report["databases"]["shop"]["problems"]
    assert report["databases"]["billing"]["problems"] == report["databases"]["pgshift"]["problems"] == []
    wait_for(lambda: sql(clusters, clusters.b, "SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                         (shop.slot_name,))[0][0], 30, what="shop's subscription to stream again")


def test_a_row_changed_on_c_in_one_database_is_named_with_it(clusters, chain):
    sql(clusters, clusters.c, "UPDATE accounts SET owner = 'changed behind replication' WHERE id = 7", db="billing")
    try:
        dag_run, report, text = validate(clusters, chain, parity="full")
    finally:
        sql(clusters, clusters.c, "UPDATE accounts SET owner = 'owner 7' WHERE id = 7", db="billing")
    assert str(dag_run.state) == "failed"
    assert "Validation found 1 problem(s)" in text
    assert report["problems"][0].startswith("database billing: parity (full): public.accounts"), report["problems"]
    for name, section in report["databases"].items():
        differs = [p["table"] for p in section["parity"] if p["status"] != "equal"]
        assert differs == (["public.accounts"] if name == "billing" else []), (name, section["parity"])
        assert {p["table"] for p in section["parity"]} >= (set(TABLES) if name != "pgshift" else {"public.orders"})


def test_the_chart_has_a_series_per_database(clusters, chain):
    from pgshift.common.chart import lag_series
    from pgshift.common.report import read_reports

    reports = read_reports(chain / "validate", 100)
    assert len(reports) == 3
    labels = [label for label, _, _ in lag_series(reports)]
    assert labels == ["A -> B (bytes)", "B -> C pgshift (bytes)", "B -> C billing (bytes)", "B -> C shop (bytes)"]
    assert (chain / "validate" / "lag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def gate(cl, **overrides):
    from pgshift.migration.operators.cutover import CutoverGateOperator

    config = chain_config(cl, databases=DATABASES, app_roles=["app"], gate_readings=2, gate_interval_seconds=0.2,
                          gate_window_seconds=30, **overrides)
    return CutoverGateOperator(task_id="cutover_gate", config=config)


def test_the_gate_reads_every_database_and_passes_a_healthy_chain(clusters, chain):
    readings = gate(clusters).execute({})["readings"]
    assert len(readings) == 2
    keys = ["databases", "a_to_b"] + [f"{what}/{name}" for name in DATABASES for what in ("b_to_c", "subscription")]
    assert list(readings[-1]) == keys
    for name in DATABASES:
        figure = readings[-1][f"b_to_c/{name}"]
        assert figure["ok"] and figure["database"] == name and figure["message"].startswith(f"database {name}: ")
        assert parts(clusters)[name].slot_name in figure["message"]


def test_a_database_gone_from_a_is_refused_before_the_fence_and_named(clusters, chain):
    from airflow.sdk.exceptions import AirflowFailException

    from pgshift.migration.checks.gate import GateSpec, fatal_problems, gate_reading

    sql(clusters, clusters.a, 'DROP DATABASE "shop" WITH (FORCE)', db="postgres")
    with pytest.raises(AirflowFailException) as refused:
        gate(clusters).execute({})
    # Refused at once (the gate's first reading is fatal; the fence's own check of the databases, where the cutover
    # has one, may refuse even before it), naming the database and no other.
    message = str(refused.value)
    assert message.startswith("Cutover refused before the fence") and "A was not touched" in message, message
    assert "shop" in message and "billing" not in message.split("A has")[0], message
    # The gate itself, which the gate task and the cutover's last reading before the fence read: one fatal problem
    # naming the database, nothing read after it.
    problems, figures = gate_reading(GateSpec.of(chain_config(clusters, databases=DATABASES)))
    assert list(figures) == ["databases"] and figures["databases"]["missing"] == ["shop"]
    assert fatal_problems(figures) == problems and len(problems) == 1
    assert problems[0].startswith("database(s) shop of the chain not on A")
    assert "refused before the fence" in problems[0]
    # Validation names it as a problem of that database.
    dag_run, report, _ = validate(clusters, chain, parity="off")
    assert str(dag_run.state) == "failed"
    assert [p for p in report["problems"] if p.startswith("database shop: not on A")], report["problems"]
    assert report["databases"]["billing"]["problems"] == []


def arm_way_back(cl, part) -> None:
    """``part``'s database as a cutover leaves it, by hand: C's subscription to B gone, the way back C -> A armed
    (C's publication and slot, A's subscription: create_slot, copy_data false, origin none), with the part's names."""
    name, sub = part.database, part.fallback_subscription_name
    for statement in ("ALTER SUBSCRIPTION {} DISABLE", "ALTER SUBSCRIPTION {} SET (slot_name = NONE)",
                      "DROP SUBSCRIPTION {}"):
        sql(cl, cl.c, statement.format(part.subscription_name), db=name)
    sql(cl, cl.c, f"CREATE PUBLICATION {part.fallback_publication_name} FOR ALL TABLES", db=name)
    sql(cl, cl.c, "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (sub,), db=name)
    sql(cl, cl.a, f"CREATE SUBSCRIPTION {sub} CONNECTION %s PUBLICATION {part.fallback_publication_name} "
                  f"WITH (create_slot = false, slot_name = '{sub}', copy_data = false, origin = none)",
        (cl.uri(cl.c, C_REPLICATION_ROLE, db=name),), db=name)


def test_after_a_cutover_the_way_back_is_validated_per_database(clusters, chain):
    from airflow.models import Variable

    from pgshift.common.chart import lag_series
    from pgshift.common.report import read_reports
    from pgshift.migration.configuration import variable_key

    cut = ["pgshift", "billing"]  # (shop is gone from A)
    for name in cut:
        arm_way_back(clusters, parts(clusters)[name])
    key = variable_key("hybrid_aurora_migration")
    record = json.loads(Variable.get(key))
    Variable.set(key, {**record, "cut_over": {"at": "2026-12-06T12:00:00+00:00", "by_run": "manual__by_hand"},
                       "fallback": {"armed": True, "state": "armed"}}, serialize_json=True)
    sql(clusters, clusters.c, "INSERT INTO accounts VALUES (1000, 'written on C', 1)", db="billing")
    wait_for(lambda: sql(clusters, clusters.a, "SELECT count(*) FROM accounts WHERE id = 1000", db="billing")[0][0],
             30, what="the way back to carry billing's row to A")

    dag_run, report, text = validate(clusters, chain, databases=cut)
    assert str(dag_run.state) == "success", text[-3000:]
    assert report["direction"] == "C -> A (the way back)" and report["problems"] == []
    assert list(report["databases"]) == cut
    for name in cut:
        figures = report["databases"][name]["figures"]
        assert figures["reverse_slot_active"] is True and figures["reverse_subscription_enabled"] is True, name
        assert figures["c_to_a_lag_bytes"] >= 0, name
    parity = {p["table"]: p for p in report["databases"]["billing"]["parity"]}
    assert set(parity) == set(TABLES) and {p["status"] for p in parity.values()} == {"equal"}

    fallback = parts(clusters)["billing"].fallback_subscription_name
    sql(clusters, clusters.a, f"ALTER SUBSCRIPTION {fallback} DISABLE", db="billing")
    dag_run, report, _ = validate(clusters, chain, databases=cut)
    assert str(dag_run.state) == "failed"
    assert report["problems"] and all(p.startswith("database billing: ") for p in report["problems"])
    assert report["databases"]["pgshift"]["problems"] == []
    labels = [label for label, _, _ in lag_series(read_reports(chain / "validate", 100))]
    assert {"C -> A pgshift, the way back (bytes)", "C -> A billing, the way back (bytes)"} <= set(labels)
