"""The whole DAG in dms mode against moto: what is sent to DMS, and B's slot as DMS would read it.

DMS itself moves no data here (the native test proves data flows). Under moto a created task never
leaves ``creating``, so the test drives moto's state: tasks are ready once created, as real DMS
makes them after validation. ``pg_recvlogical`` stands in for DMS's reader of the test_decoding
slot on B, so the B -> C lag sensor sees an active consumer, as it would with real DMS.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading

import psycopg2
import pytest
from airflow.sdk.exceptions import AirflowFailException
from chain_helpers import (
    NAMES,
    CaptureFds,
    airflow_db_text,
    chain_conf,
    chain_config,
    run_dag,
    secrets_in,
    sql,
)
from moto import mock_aws
from moto.dms import models as dms_models
from testing_support import MOTO_ACCOUNT, MOTO_REGION, assert_run_succeeded, moto_aws_env

REGION, ACCOUNT = MOTO_REGION, MOTO_ACCOUNT


@pytest.fixture
def moto_dms(monkeypatch):
    moto_aws_env(monkeypatch)
    original = dms_models.DatabaseMigrationServiceBackend.create_replication_task

    def create_then_ready(self, *args, **kwargs):
        return original(self, *args, **kwargs).ready()

    monkeypatch.setattr(dms_models.DatabaseMigrationServiceBackend, "create_replication_task", create_then_ready)
    with mock_aws():
        yield dms_models.dms_backends[ACCOUNT][REGION]


class SlotReader:
    """Reads B's logical slot once it exists, like the DMS replication instance would."""

    def __init__(self, cl, slot: str) -> None:
        self.cl, self.slot = cl, slot
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                exists = sql(self.cl, self.cl.b, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s",
                             (self.slot,))
            except psycopg2.OperationalError:  # B is not up until the basebackup step has run
                continue
            if exists:
                env = {**os.environ, "PGPASSWORD": self.cl.passwords()["replicator"]}
                self.proc = subprocess.Popen(
                    [self.cl.tool("pg_recvlogical"), "-h", "127.0.0.1", "-p", str(self.cl.b.port), "-U",
                     "replicator", "-d", "pgshift", "-S", self.slot, "--start", "-f", "/dev/null", "-s", "1"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return

    def __enter__(self) -> SlotReader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)


def test_dms_mode_sends_a_read_only_source_and_the_scope(clusters, moto_dms):
    clusters.reset_chain()
    conf = chain_conf(clusters, mode="dms", tables=["public.orders", "public.pgbench_accounts"], dms_ssl_mode="none")
    with SlotReader(clusters, NAMES["slot"]), CaptureFds() as out:
        dag_run = run_dag(conf)
    states = assert_run_succeeded(dag_run, out.text)
    assert states["create_subscription"] == "skipped"
    assert states["wait_dms_full_load"] == "success"

    source = moto_dms.endpoints["pgshift-source-b"]
    assert (source.engine_name, source.server_name, source.port, source.database_name, source.username) == \
        ("postgres", "127.0.0.1", clusters.b.port, "pgshift", "replicator")
    assert source.postgre_sql_settings == {"SlotName": NAMES["slot"], "PluginName": "test-decoding",
                                           "HeartbeatEnable": False, "CaptureDdls": False}
    target = moto_dms.endpoints["pgshift-target-c"]
    assert (target.engine_name, target.port, target.ssl_mode) == ("aurora-postgresql", clusters.c.port, "none")
    (task,) = moto_dms.replication_tasks.values()
    assert task.id == "pgshift-b-to-c"
    assert task.migration_type == "full-load-and-cdc"
    assert task.status == "running"
    rules = json.loads(task.table_mappings)["rules"]
    assert [(r["object-locator"]["schema-name"], r["object-locator"]["table-name"], r["rule-action"])
            for r in rules] == [("public", "orders", "include"), ("public", "pgbench_accounts", "include")]
    assert json.loads(task.replication_task_settings)["FullLoadSettings"]["TargetTablePrepMode"] == \
        "TRUNCATE_BEFORE_LOAD"

    assert sql(clusters, clusters.b, "SELECT plugin FROM pg_replication_slots WHERE slot_name = %s",
               (NAMES["slot"],)) == [("test_decoding",)]
    assert sql(clusters, clusters.a, "SELECT tablename FROM pg_publication_tables ORDER BY 1") == \
        [("orders",), ("pgbench_accounts",)]
    assert secrets_in(out.text, clusters) == []
    assert secrets_in(airflow_db_text(), clusters) == []


def test_failed_dms_task_fails_fast_quoting_its_message(moto_dms, monkeypatch):
    from airflow.providers.amazon.aws.hooks.dms import DmsHook

    from pgshift.migration.sensors.replication import DmsTaskRunningSensor

    hook = DmsHook(aws_conn_id="aws_default")
    client = hook.conn
    instance = client.create_replication_instance(ReplicationInstanceIdentifier="ri", ReplicationInstanceClass="x",
                                                  AllocatedStorage=50)["ReplicationInstance"]["ReplicationInstanceArn"]
    ends = [client.create_endpoint(EndpointIdentifier=n, EndpointType=t, EngineName="postgres")["Endpoint"]
            ["EndpointArn"] for n, t in (("s", "source"), ("t", "target"))]
    arn = hook.create_replication_task("t1", ends[0], ends[1], instance, "full-load-and-cdc", {"rules": []})
    task = moto_dms.replication_tasks[arn]
    task.status = "failed"
    to_dict = type(task).to_dict
    monkeypatch.setattr(type(task), "to_dict", lambda self: {
        **to_dict(self), "LastFailureMessage": "Error in slot creation: replication slot is not active"})
    sensor = DmsTaskRunningSensor(task_id="wait", config=chain_config(aws_conn_id="aws_default"), task_arn=arn,
                                  timeout=60)
    with pytest.raises(AirflowFailException) as err:
        sensor.execute({})
    assert "DMS task t1 is failed: Error in slot creation: replication slot is not active" in str(err.value)


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


def test_dms_cutover_stops_the_task_and_leaves_c_ready(clusters, moto_dms, tmp_path):
    clusters.reset_chain()
    tables = ["public.orders", "public.pgbench_accounts"]
    conf = chain_conf(clusters, mode="dms", tables=tables, dms_ssl_mode="none")
    with SlotReader(clusters, NAMES["slot"]):
        assert_run_succeeded(run_dag(conf))
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
    (task,) = moto_dms.replication_tasks.values()
    assert task.status == "stopped"
    (path,) = tmp_path.glob("cutover/*/report.json")
    report = json.loads(path.read_text())
    assert report["status"] == "ready" and report["mode"] == "dms"
    assert sorted((t["table"], t["status"]) for t in report["tables"]) == [(t, "equal") for t in tables]
    assert "Stopped DMS task pgshift-b-to-c" in out.text
    last_on_a = sql(clusters, clusters.a, "SELECT last_value FROM orders_id_seq")[0][0]
    assert sql(clusters, clusters.c, "SELECT nextval('orders_id_seq')")[0][0] == last_on_a + 1
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        psycopg2.connect(clusters.uri(clusters.a, user="app"))
    clusters.reset_chain()  # unfence A for the tests that follow
