"""Preflight refuses, before any change, naming each problem; one report lists all of them."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from chain_helpers import NAMES, chain_conf, chain_values, run_dag, sql, task_states
from pgcluster import LocalClusters, server_user
from testing_support import free_port_block, state_dir

from pgshift.migration.operators.preflight import ChainPreflightOperator

PG15_BIN = Path("/usr/lib/postgresql/15/bin")


def preflight(cl: LocalClusters, **overrides) -> ChainPreflightOperator:
    """The preflight of ``cl``'s chain under param ``overrides``, its config as the DAG renders it (values by name)."""
    values = chain_values(cl, mode="native", b_os_user=server_user(), publication_name=NAMES["publication"],
                          physical_slot_name=NAMES["physical_slot"], slot_name=NAMES["slot"],
                          subscription_name=NAMES["subscription"])
    return ChainPreflightOperator(task_id="preflight", config={**values, **overrides})


def refusal(op: ChainPreflightOperator) -> str:
    with pytest.raises(AirflowFailException) as err:
        op.execute({})
    return str(err.value)


def state_of(cl: LocalClusters) -> tuple:
    return (sql(cl, cl.a, "SELECT slot_name FROM pg_replication_slots"),
            sql(cl, cl.a, "SELECT pubname FROM pg_publication"),
            sorted(os.listdir(cl.b.data_dir)),
            sql(cl, cl.c, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"))


@pytest.fixture(scope="module")
def fresh(clusters):
    clusters.reset_chain()
    return clusters


@pytest.fixture(scope="module")
def replica_level_a(clusters):
    """A second A with wal_level=replica (and a table without a primary key)."""
    cl = LocalClusters(state_dir("replica"), free_port_block(clusters.base_port + 10))
    cl.start(a_conf={"wal_level": "replica"})
    sql(cl, cl.a, "CREATE TABLE IF NOT EXISTS events (at timestamptz, what text)")
    env = {"AIRFLOW_CONN_REPLICA_A": cl.uri(cl.a), "AIRFLOW_CONN_REPLICA_A_REPLICATION": cl.uri(cl.a, "replicator"),
           "AIRFLOW_CONN_REPLICA_B": cl.uri(cl.b), "AIRFLOW_CONN_REPLICA_B_REPLICATION": cl.uri(cl.b, "replicator"),
           "AIRFLOW_CONN_REPLICA_C": cl.uri(cl.c)}
    os.environ.update(env)
    yield cl
    for key in env:
        os.environ.pop(key, None)
    cl.destroy()


def replica_args(cl: LocalClusters) -> dict:
    return {"conn_a": "replica_a", "conn_a_replication": "replica_a_replication", "conn_b": "replica_b",
            "conn_b_subscription": "replica_b_replication", "conn_c": "replica_c", "b_data_dir": str(cl.b.data_dir)}


def test_fresh_chain_passes_and_reports_facts(fresh):
    facts = preflight(fresh).execute({})
    assert facts["a"]["wal_level"] == "logical"
    assert "public.orders" in facts["a"]["tables"]
    assert facts["b"]["running"] is False and facts["b"]["major"] >= 16


def test_slot_name_injection_is_refused_before_any_change(fresh):
    before = state_of(fresh)
    message = refusal(preflight(fresh, slot_name="x'; drop table t; --"))
    assert "slot_name \"x'; drop table t; --\" is not a valid replication slot name" in message
    assert "nothing was changed" in message
    assert state_of(fresh) == before


@pytest.mark.skipif(not (PG15_BIN / "postgres").exists(), reason="Debian's PostgreSQL 15 is not installed")
def test_postgresql_15_on_b_is_refused(fresh):
    message = refusal(preflight(fresh, b_bin_dir=str(PG15_BIN)))
    assert "PostgreSQL 15 cannot do logical decoding on a standby" in message
    assert "needs PostgreSQL 16 or newer" in message


def test_wal_level_replica_on_a_is_refused(replica_level_a):
    message = refusal(preflight(replica_level_a, **replica_args(replica_level_a), tables=["public.pgbench_accounts"]))
    assert "A runs with wal_level=replica" in message
    assert "requires wal_level=logical on the primary too" in message


def test_table_without_primary_key_is_refused(fresh):
    sql(fresh, fresh.a, "CREATE SCHEMA nopk; CREATE TABLE nopk.audit (at timestamptz, what text)")
    try:
        message = refusal(preflight(fresh, schemas=["nopk"]))
    finally:
        sql(fresh, fresh.a, "DROP SCHEMA nopk CASCADE")
    assert "table nopk.audit has no primary key or replica identity" in message
    assert "REPLICA IDENTITY FULL" in message


def test_one_report_lists_every_problem(replica_level_a):
    overrides = {**replica_args(replica_level_a), "tables": ["public.events", "public.missing"],
                 "cdc_lag_max_bytes": None}
    overrides.pop("cdc_lag_max_bytes")
    if (PG15_BIN / "postgres").exists():
        overrides["b_bin_dir"] = str(PG15_BIN)
    message = refusal(preflight(replica_level_a, **overrides, wal_lag_max_seconds=-5))
    assert "wal_lag_max_seconds must be" in message  # parameters are checked first...
    message = refusal(preflight(replica_level_a, **overrides))  # ...then every server-side problem at once
    assert "A runs with wal_level=replica" in message
    assert "table public.missing does not exist on A" in message
    assert "table public.events has no primary key" in message
    if (PG15_BIN / "postgres").exists():
        assert "PostgreSQL 15 cannot do logical decoding" in message
    assert message.count("\n  - ") >= 3


def test_tables_already_on_c_are_refused_unless_allowed(fresh):
    sql(fresh, fresh.c, "CREATE TABLE public.orders (id bigint)")
    try:
        message = refusal(preflight(fresh))
        assert "C already holds 1 of the tables in scope (public.orders)" in message
        preflight(fresh, allow_existing_tables_on_c=True).execute({})
    finally:
        sql(fresh, fresh.c, "DROP TABLE public.orders")


def test_dag_stops_at_preflight_and_changes_nothing(fresh):
    before = state_of(fresh)
    # (A slot name like "x'; drop table t; --" no longer gets this far: the params' schema refuses it.)
    dag_run = run_dag(chain_conf(fresh, b_bin_dir="/nonexistent/postgresql/bin"))
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed"
    assert states["preflight"] == "failed"
    assert states["basebackup_b"] == "upstream_failed"
    assert state_of(fresh) == before


# -- what logical replication does not carry
def test_large_objects_are_refused_with_their_count_unless_their_loss_is_accepted(fresh):
    sql(fresh, fresh.a, "SELECT lo_create(0), lo_create(0)")
    try:
        message = refusal(preflight(fresh))
        assert "A has 2 large object(s); logical replication does not carry them" in message
        assert "accept_large_object_loss" in message
        facts = preflight(fresh, accept_large_object_loss=True).execute({})
    finally:
        sql(fresh, fresh.a, "SELECT lo_unlink(oid) FROM pg_largeobject_metadata")
    assert facts["not_replicated"]["large_objects"] == 2
    assert facts["not_replicated"]["large_objects_not_migrated"] is True
    assert any("A has 2 large object(s); they are not migrated" in w for w in facts["warnings"])
    clean = preflight(fresh).execute({})["not_replicated"]
    assert (clean["large_objects"], clean["large_objects_not_migrated"]) == (0, False)


def test_unlogged_table_in_scope_is_refused_by_name(fresh):
    sql(fresh, fresh.a, "CREATE SCHEMA scratch; CREATE TABLE scratch.kept (id int PRIMARY KEY);"
                        " CREATE UNLOGGED TABLE scratch.cache (id int PRIMARY KEY);"
                        " CREATE TABLE public.events (at date PRIMARY KEY) PARTITION BY RANGE (at);"
                        " CREATE UNLOGGED TABLE public.events_2020 PARTITION OF public.events"
                        "   FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')")
    try:
        message = refusal(preflight(fresh, schemas=["scratch"], tables=["public.events"]))
    finally:
        sql(fresh, fresh.a, "DROP SCHEMA scratch CASCADE; DROP TABLE public.events")
    # (only the unlogged ones, a partition by its own name: the logged tables beside them are not named)
    assert ("unlogged table(s) in scope: public.events_2020, scratch.cache: logical replication does not publish "
            "them") in message


def test_materialized_view_is_a_warning_naming_it(fresh):
    sql(fresh, fresh.a, "CREATE SCHEMA reporting; CREATE TABLE reporting.sales (id int PRIMARY KEY, amount int);"
                        " CREATE MATERIALIZED VIEW reporting.totals AS SELECT sum(amount) FROM reporting.sales;"
                        " GRANT SELECT ON reporting.sales TO replicator")
    try:
        facts = preflight(fresh, schemas=["reporting"]).execute({})
    finally:
        sql(fresh, fresh.a, "DROP SCHEMA reporting CASCADE")
    assert facts["not_replicated"]["materialized_views"] == ["reporting.totals"]
    assert any("materialized view(s) not replicated: reporting.totals" in w for w in facts["warnings"])


@pytest.fixture
def probe_extension_on_a(fresh):
    """Extension pgshift_probe installed on A from a control directory only A's session is told of, so C lacks it."""
    root = Path(tempfile.mkdtemp(prefix="pgshift-extension-"))  # (not under pytest's 0700 tmp: the server reads it)
    directory = root / "extension"
    directory.mkdir()
    (directory / "pgshift_probe.control").write_text("default_version = '1.0'\nrelocatable = true\n")
    (directory / "pgshift_probe--1.0.sql").write_text("CREATE FUNCTION pgshift_probe() RETURNS int "
                                                       "LANGUAGE sql AS 'SELECT 1';\n")
    for path in (root, directory):
        path.chmod(0o755)
    search = f"SET extension_control_path = '{root}:$system';"
    try:
        sql(fresh, fresh.a, f"{search} CREATE EXTENSION pgshift_probe")
        yield fresh
        sql(fresh, fresh.a, f"{search} DROP EXTENSION pgshift_probe")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_extension_missing_on_c_is_refused(probe_extension_on_a):
    message = refusal(preflight(probe_extension_on_a))
    assert ("extension pgshift_probe 1.0 is installed on A, and C has no such extension "
            "(not in pg_available_extensions)") in message


def test_extension_in_another_version_on_c_is_a_warning(fresh):
    sql(fresh, fresh.a, "CREATE EXTENSION hstore VERSION '1.4'")
    try:
        facts = preflight(fresh).execute({})
    finally:
        sql(fresh, fresh.a, "DROP EXTENSION hstore")
    default = facts["not_replicated"]["extensions"]["hstore"]["c_default"]
    assert default and default != "1.4"
    assert f"extension hstore is version 1.4 on A and {default} on C (available (default))" in facts["warnings"]


def test_roles_that_cannot_be_migrated_as_they_are_are_named(fresh):
    sql(fresh, fresh.a, "CREATE ROLE pf_admin LOGIN SUPERUSER; CREATE SCHEMA pf;"
                        " CREATE TABLE pf.t (id int PRIMARY KEY); ALTER TABLE pf.t OWNER TO pf_admin;"
                        " GRANT USAGE ON SCHEMA pf TO replicator; GRANT SELECT ON pf.t TO replicator")
    try:
        facts = preflight(fresh, schemas=["pf"]).execute({})
        bad_extra = refusal(preflight(fresh, schemas=["pf"], extra_roles=["no_such_role"]))
        without = preflight(fresh, schemas=["pf"], exclude_roles=["pf_admin"]).execute({})
    finally:
        sql(fresh, fresh.a, "DROP SCHEMA pf CASCADE; DROP ROLE pf_admin")
    assert "pf_admin" in facts["roles"]["roles"] and "pf_admin" in facts["roles"]["login"]
    assert any("pf_admin" in w and "SUPERUSER" in w for w in facts["warnings"]), facts["warnings"]
    assert "extra_roles: no_such_role do not exist on A" in bad_extra
    assert "pf_admin" not in without["roles"]["roles"]


def test_a_table_with_row_level_security_the_copy_role_is_subject_to_is_refused(fresh):
    sql(fresh, fresh.a, "CREATE SCHEMA pr; CREATE TABLE pr.t (id int PRIMARY KEY, owner text);"
                        " GRANT USAGE ON SCHEMA pr TO replicator; GRANT SELECT ON pr.t TO replicator;"
                        " ALTER TABLE pr.t ENABLE ROW LEVEL SECURITY")
    try:
        message = refusal(preflight(fresh, schemas=["pr"]))
        sql(fresh, fresh.a, "ALTER ROLE replicator BYPASSRLS")
        facts = preflight(fresh, schemas=["pr"]).execute({})
    finally:
        sql(fresh, fresh.a, "ALTER ROLE replicator NOBYPASSRLS; DROP SCHEMA pr CASCADE")
    assert ("table pr.t has row-level security and role 'replicator' (connection pgshift_b_replication) is subject "
            "to it") in message and "ALTER ROLE replicator BYPASSRLS" in message
    assert facts["a"]["tables"] == ["pr.t"]


# -- the way back (fallback on): C can publish to A, A can subscribe, conn_c_subscription can replicate on C
@pytest.fixture(scope="module")
def replica_level_c(clusters):
    """A second C with wal_level=replica (an Aurora cluster without rds.logical_replication looks like it)."""
    cl = LocalClusters(state_dir("replica-c"), free_port_block(clusters.base_port + 20))
    cl.start()
    sql(cl, cl.c, "ALTER SYSTEM SET wal_level = replica")
    cl.stop_node(cl.c)
    cl.start_node(cl.c)
    os.environ["AIRFLOW_CONN_REPLICA_LEVEL_C"] = cl.uri(cl.c)
    yield cl
    os.environ.pop("AIRFLOW_CONN_REPLICA_LEVEL_C", None)
    cl.destroy()


def test_the_way_back_is_checked_when_fallback_is_on(fresh):
    facts = preflight(fresh).execute({})["fallback"]
    assert (facts["c"]["wal_level"], facts["c"]["slot_exists"], facts["c"]["publication_exists"]) == \
        ("logical", False, False)
    assert facts["a"]["subscription_exists"] is False and facts["a"]["superuser"] is True
    from airflow.sdk import BaseHook

    role = facts["role"]  # the test clusters' pgshift_c_replication, on C
    assert role["rolname"] == BaseHook.get_connection("pgshift_c_replication").login
    assert role["rolcanlogin"] and (role["rolreplication"] or role["rolsuper"])


def test_wal_level_replica_on_c_is_refused_only_when_fallback_is_on(fresh, replica_level_c):
    message = refusal(preflight(fresh, conn_c="replica_level_c"))
    assert ("C runs with wal_level=replica: the way back (fallback on) publishes C's changes to A, which needs "
            "wal_level=logical: set wal_level = logical on C and restart it; or set fallback to false") in message
    assert message.count("\n  - ") == 1  # nothing else is wrong with that C
    facts = preflight(fresh, conn_c="replica_level_c", fallback=False).execute({})
    assert facts["fallback"] == {} and facts["c"]["wal_level"] == "replica"


def test_a_subscription_role_that_cannot_replicate_on_c_is_refused(fresh, monkeypatch):
    sql(fresh, fresh.c, "CREATE ROLE pf_norepl LOGIN PASSWORD 'pf-norepl-secret'")
    monkeypatch.setenv("AIRFLOW_CONN_PF_NOREPL", f"postgresql://pf_norepl:pf-norepl-secret@127.0.0.1:{fresh.c.port}/x")
    try:
        no_replication = refusal(preflight(fresh, conn_c_subscription="pf_norepl"))
        no_connection = refusal(preflight(fresh, conn_c_subscription="pf_no_such_connection"))
        sql(fresh, fresh.a, "CREATE SUBSCRIPTION pgshift_fallback CONNECTION 'dbname=none' PUBLICATION p "
                            "WITH (connect = false)")
        try:
            taken = refusal(preflight(fresh))
        finally:
            sql(fresh, fresh.a, "ALTER SUBSCRIPTION pgshift_fallback SET (slot_name = NONE); "
                                "DROP SUBSCRIPTION pgshift_fallback")
    finally:
        sql(fresh, fresh.c, "DROP ROLE pf_norepl")
    assert ("role 'pf_norepl' (connection pf_norepl, which A's subscription reads C as) has neither REPLICATION nor "
            "rds_replication on C (rolreplication=false): ALTER ROLE pf_norepl REPLICATION, or on Aurora GRANT "
            "rds_replication TO pf_norepl") in no_replication
    assert "conn_c_subscription 'pf_no_such_connection' (A's subscription reads C as it, for the way back) is not " \
           "an Airflow connection" in no_connection
    assert "a subscription 'pgshift_fallback' is already on A: the cutover creates the way back's subscription" in taken
    preflight(fresh, fallback=False, conn_c_subscription="pf_no_such_connection").execute({})  # fallback off: not read
