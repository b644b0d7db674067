"""The whole DAG in dms mode against moto as a server (tests/moto_dms_server.py): what is sent to DMS, B's slot
as DMS would read it, and a bad DMS setting refused before anything is created.

DMS itself moves no data here (the native test proves data flows). The moto server makes a created task
ready at its next describe, as real DMS makes it after validation. ``pg_recvlogical`` stands in for DMS's reader
of the test_decoding slot on B, so the B -> C lag sensor sees an active consumer, as it would with real DMS.
Everything is read back from the server over HTTP, as the operators reach it.
"""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import psycopg2
import pytest
from chain_helpers import (
    NAMES,
    CaptureFds,
    SlotReader,
    airflow_db_text,
    chain_conf,
    run_dag,
    secrets_in,
    sql,
    task_states,
)
from testing_support import assert_run_succeeded, moto_aws_env


@pytest.fixture
def moto_dms(moto_server, monkeypatch):
    """A client of the emptied moto server, through ``aws_default`` as the operators reach it."""
    from airflow.providers.amazon.aws.hooks.dms import DmsHook

    moto_server.reset()
    moto_aws_env(monkeypatch, moto_server)
    return DmsHook(aws_conn_id="aws_default").conn


def endpoint(client, endpoint_id: str) -> dict:
    (found,) = client.describe_endpoints(Filters=[{"Name": "endpoint-id", "Values": [endpoint_id]}])["Endpoints"]
    return found


def only_task(client) -> dict:
    (task,) = client.describe_replication_tasks()["ReplicationTasks"]
    return task


def test_a_bad_dms_setting_is_refused_before_anything_is_created(clusters, moto_dms):
    clusters.reset_chain()
    conf = chain_conf(clusters, mode="dms", tables=["public.orders"], dms_ssl_mode="none",
                      dms_parallel_load_partitions=["public.pgbench_accounts"])
    with CaptureFds() as out:
        dag_run = run_dag(conf)
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed" and states["configuration"] == "failed", states
    assert "dms_parallel_load_partitions: public.pgbench_accounts is not among the tables to migrate" in out.text
    assert {t: s for t, s in states.items() if s == "success"} == {}, states
    assert moto_dms.describe_replication_instances()["ReplicationInstances"] == []
    assert sql(clusters, clusters.a, "SELECT count(*) FROM pg_publication") == [(0,)]
    assert sql(clusters, clusters.a, "SELECT count(*) FROM pg_replication_slots") == [(0,)]
    assert not clusters.is_running(clusters.b)
    assert sql(clusters, clusters.c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


@pytest.fixture(scope="module")
def dms_chain(clusters, moto_server):
    """The module's chain in dms mode, set up once for the two tests that use it (the second cuts it over): its setup
    run and log, and a client of the moto server. B's slot is read by DMS's stand-in until the module ends."""
    from airflow.providers.amazon.aws.hooks.dms import DmsHook

    clusters.reset_chain()
    moto_server.reset()
    tables = ["public.orders", "public.pgbench_accounts"]
    conf = chain_conf(clusters, mode="dms", tables=tables, dms_ssl_mode="none", dms_max_full_load_subtasks=4,
                      dms_parallel_load_ranges={"public.orders": {"id": ["500"]}})
    with pytest.MonkeyPatch.context() as mp, SlotReader(clusters, NAMES["slot"]):
        moto_aws_env(mp, moto_server)
        with CaptureFds() as out:
            dag_run = run_dag(conf)
        yield SimpleNamespace(conf=conf, tables=tables, dag_run=dag_run, text=out.text,
                              dms=DmsHook(aws_conn_id="aws_default").conn)
    clusters.reset_chain()  # unfence A for the tests that follow


def test_dms_mode_sends_a_read_only_source_and_the_scope(clusters, dms_chain):
    moto_dms, out = dms_chain.dms, dms_chain
    states = assert_run_succeeded(dms_chain.dag_run, out.text)
    assert states["create_subscription"] == "skipped"
    assert states["wait_dms_full_load"] == "success"

    source = endpoint(moto_dms, "pgshift-source-b")
    assert [source[k] for k in ("EngineName", "ServerName", "Port", "DatabaseName", "Username")] == \
        ["postgres", "127.0.0.1", clusters.b.port, "pgshift", "replicator"]
    assert source["PostgreSQLSettings"] == {"SlotName": NAMES["slot"], "PluginName": "test-decoding",
                                            "HeartbeatEnable": False, "CaptureDdls": False}
    target = endpoint(moto_dms, "pgshift-target-c")
    assert [target[k] for k in ("EngineName", "Port", "SslMode")] == ["aurora-postgresql", clusters.c.port, "none"]
    task = only_task(moto_dms)
    assert (task["ReplicationTaskIdentifier"], task["MigrationType"], task["Status"]) == \
        ("pgshift-b-to-c", "full-load-and-cdc", "running")
    rules = json.loads(task["TableMappings"])["rules"]
    assert [(r["object-locator"]["schema-name"], r["object-locator"]["table-name"], r["rule-type"])
            for r in rules] == [("public", "orders", "selection"), ("public", "pgbench_accounts", "selection"),
                                ("public", "orders", "table-settings")]
    assert rules[2]["parallel-load"] == {"type": "ranges", "columns": ["id"], "boundaries": [["500"]]}
    settings = json.loads(task["ReplicationTaskSettings"])
    assert settings["FullLoadSettings"] == {"TargetTablePrepMode": "TRUNCATE_BEFORE_LOAD", "MaxFullLoadSubTasks": 4}
    assert settings["TargetMetadata"]["LimitedSizeLobMode"] is True

    assert sql(clusters, clusters.b, "SELECT plugin FROM pg_replication_slots WHERE slot_name = %s",
               (NAMES["slot"],)) == [("test_decoding",)]
    assert sql(clusters, clusters.a, "SELECT tablename FROM pg_publication_tables ORDER BY 1") == \
        [("orders",), ("pgbench_accounts",)]
    assert secrets_in(out.text, clusters) == []
    assert secrets_in(airflow_db_text(), clusters) == []


def copy_rows(cl, tables: list[str]) -> None:
    """What DMS's full load would have done (under moto nothing moves data): A's rows into C's tables."""
    src, dst = psycopg2.connect(cl.uri(cl.a)), psycopg2.connect(cl.uri(cl.c))
    try:
        for table in tables:
            buf = io.StringIO()
            src.cursor().copy_expert(f"COPY {table} TO STDOUT", buf)
            buf.seek(0)
            dst.cursor().copy_expert(f"COPY {table} FROM STDIN", buf)
        dst.commit()
    finally:
        src.close()
        dst.close()


def test_dms_cutover_stops_the_task_and_leaves_c_ready(clusters, dms_chain, tmp_path):
    conf, tables = dms_chain.conf, dms_chain.tables
    assert_run_succeeded(dms_chain.dag_run, dms_chain.text)
    copy_rows(clusters, tables)  # A takes no writes here, so this is C fully loaded and caught up
    with CaptureFds() as out:
        validation = run_dag({**conf, "action": "validate", "report_dir": str(tmp_path)})
    assert_run_succeeded(validation, out.text)
    (path,) = tmp_path.glob("validate/*.json")
    checked = json.loads(path.read_text())
    assert checked["figures"]["dms_status"] == "running" and checked["problems"] == []
    assert sorted((t["table"], t["status"]) for t in checked["parity"]) == [(t, "equal") for t in tables]
    with CaptureFds() as out:
        dag_run = run_dag({**conf, "action": "cutover", "app_roles": ["app"], "dry_run": False,
                           "gate_readings": 1, "report_dir": str(tmp_path)})
    states = assert_run_succeeded(dag_run, out.text)
    assert states["publish_migration"] == "success"
    assert only_task(dms_chain.dms)["Status"] == "stopped"
    (path,) = tmp_path.glob("cutover/*/report.json")
    report = json.loads(path.read_text())
    assert report["status"] == "ready" and report["mode"] == "dms"
    assert sorted((t["table"], t["status"]) for t in report["tables"]) == [(t, "equal") for t in tables]
    assert "Stopped DMS task pgshift-b-to-c" in out.text
    last_on_a = sql(clusters, clusters.a, "SELECT last_value FROM orders_id_seq")[0][0]
    assert sql(clusters, clusters.c, "SELECT nextval('orders_id_seq')")[0][0] == last_on_a + 1
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        psycopg2.connect(clusters.uri(clusters.a, user="app"))
