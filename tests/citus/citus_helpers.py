"""Helpers for the Citus tests: the cluster under test (emulated or real), DAG runs, logs, XCom."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg2
import psycopg2.extras
import pytest
from testing_support import CaptureFds, airflow_db_text, wait_for  # noqa: F401 - re-exported

SQL_DIR = Path(__file__).resolve().parent / "sql"
TRANSCRIPTS = Path(os.environ.get("CITUS_TRANSCRIPTS",
                                  Path(__file__).resolve().parents[3] / "shared" / "citus-transcripts"))
CONN_ID = "citus_coordinator"
SEED_ROWS = 3000


def sql_file(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def transcript(name: str) -> dict[str, Any]:
    path = TRANSCRIPTS / name
    if not path.exists():
        pytest.skip(f"Citus transcripts not found at {TRANSCRIPTS} (set CITUS_TRANSCRIPTS)")
    return json.loads(path.read_text())




class Node:
    """host:port of a Citus node, as the DAG's params spell it."""

    def __init__(self, host: str, port: int, name: str = "") -> None:
        self.host, self.port, self.name = host, int(port), name or f"{host}:{port}"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class CitusCluster:
    """The cluster the tests drive: a coordinator URI, nodes to add, and a way to reset it.

    ``real`` clusters come from CITUS_TEST_DSN / CITUS_TEST_NEW_WORKERS; the emulated one from
    tests/citus/citus_servers.py. Tests use only what both offer; breaking a node needs ``can_break``.
    """

    real = False

    def __init__(self, coordinator_uri: str, new_workers: list[Node], unreachable: Node) -> None:
        self.coordinator_uri = coordinator_uri
        self.new_workers = new_workers
        self.unreachable = unreachable

    # -- SQL on the coordinator or another node (same credentials)
    def dsn(self, node: Node | None = None) -> str:
        url = urlparse(self.coordinator_uri)
        parts = {"host": node.host if node else url.hostname, "port": node.port if node else (url.port or 5432),
                 "dbname": unquote(url.path.lstrip("/")) or "postgres", "user": unquote(url.username or ""),
                 "password": unquote(url.password or ""), "connect_timeout": 10}
        return " ".join(f"{k}='{v}'" for k, v in parts.items() if v != "")

    def connect(self, node: Node | None = None):
        conn = psycopg2.connect(self.dsn(node))
        conn.autocommit = True
        return conn

    def sql(self, query: str, params: Any = None, node: Node | None = None) -> list[dict[str, Any]]:
        # Not `with connect()`: since psycopg2 2.9 that opens a transaction block even in autocommit.
        conn = self.connect(node)
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(query, params)
                return [dict(r) for r in cur.fetchall()] if cur.description else []
        finally:
            conn.close()

    def value(self, query: str, params: Any = None, node: Node | None = None) -> Any:
        rows = self.sql(query, params, node)
        return next(iter(rows[0].values())) if rows else None

    # -- state the tests compare
    def metadata(self) -> dict[str, Any]:
        """What a run that must change nothing may not change."""
        return {
            "nodes": self.sql("SELECT nodeid, nodename, nodeport, groupid, isactive, shouldhaveshards "
                              "FROM pg_dist_node ORDER BY nodeid"),
            "placements": self.placements(),
            "jobs": self.sql("SELECT job_id, state::text FROM pg_dist_background_job ORDER BY job_id"),
        }

    def placements(self) -> list[dict[str, Any]]:
        return self.sql("SELECT s.shardid, n.nodename, n.nodeport FROM pg_dist_shard s "
                        "JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n ON n.groupid = p.groupid "
                        "WHERE s.logicalrelid = 'orders'::regclass ORDER BY s.shardid")

    def shard_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.placements():
            key = f"{p['nodename']}:{p['nodeport']}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    # -- reset: no rebalance running, new workers out of the cluster, a fresh distributed orders
    def reset(self, rows: int = SEED_ROWS) -> None:
        self.sql(sql_file("stop_rebalance"))
        self.sql(sql_file("drop_orders"))
        for node in self.new_workers:
            row = self.sql("SELECT coalesce((to_jsonb(n) ->> 'nodeisclone')::boolean, false) AS clone, isactive "
                           "FROM pg_dist_node n WHERE nodename = %s AND nodeport = %s", (node.host, node.port))
            if row and row[0]["clone"] and not row[0]["isactive"]:  # a clone test stopped half-way
                self.sql("SELECT citus_remove_clone_node(%s, %s)", (node.host, node.port))
            elif row:
                self.sql("SELECT citus_drain_node(%s, %s)", (node.host, node.port))
                self.sql("SELECT citus_remove_node(%s, %s)", (node.host, node.port))
        self.drop_clone_slots()
        self.seed(rows)

    def drop_clone_slots(self) -> None:
        """Slots the clone method left on the workers (a failed promotion keeps its standby and slot)."""
        for worker in self.sql("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND isactive"):
            self.sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                     "WHERE slot_name LIKE 'pgshift\\_clone\\_%%' AND NOT active",
                     node=Node(worker["nodename"], worker["nodeport"]))

    def seed(self, rows: int) -> None:
        self.sql(sql_file("seed_orders"), {"rows": rows})

    def tune(self, **settings: Any) -> None:
        """Emulation knobs (move_seconds, task_max_retries, ...); a real cluster has none."""

    @property
    def can_break(self) -> bool:
        return False

    def break_node(self, node: Node) -> None:
        raise NotImplementedError

    def repair_node(self, node: Node) -> None:
        raise NotImplementedError

    # -- clones (snapshot-based node addition): a new node rebuilt as a physical standby of a worker
    @property
    def can_clone(self) -> bool:
        return False

    def clone_node(self, source: Node, target: Node) -> None:
        """Make ``target`` a streaming standby of ``source`` (pg_basebackup -R), as F_03 did by hand."""
        raise NotImplementedError

    def clone_target(self, target: Node) -> dict[str, Any]:
        """Empty ``target``'s data directory for the DAG's own basebackup; the DAG params that reach it."""
        raise NotImplementedError

    def restore_node(self, target: Node) -> None:
        """``target`` back to a standalone server outside the cluster (after a clone test)."""

    def ssh_connection(self) -> dict[str, Any] | None:
        """An Airflow SSH connection (as a dict) to the new nodes' host, None when there is none to test with."""
        return None


class RealCluster(CitusCluster):
    """CITUS_TEST_DSN (coordinator URI) and CITUS_TEST_NEW_WORKERS (host:port list, at least one).

    Optional CITUS_TEST_STOP_NODE / CITUS_TEST_START_NODE: shell commands with {host} and {port} that
    stop and start a worker, for the failure test (Citus then retries for about 33 minutes).
    """

    real = True

    def __init__(self) -> None:
        workers = [w for w in os.environ.get("CITUS_TEST_NEW_WORKERS", "").replace(",", " ").split() if w]
        if not workers:
            pytest.exit("CITUS_TEST_DSN is set but CITUS_TEST_NEW_WORKERS is empty", returncode=2)
        nodes = [Node(*w.rsplit(":", 1)) for w in workers]
        unreachable = Node(os.environ.get("CITUS_TEST_UNREACHABLE", "127.0.0.1:1").rsplit(":", 1)[0],
                           int(os.environ.get("CITUS_TEST_UNREACHABLE", "127.0.0.1:1").rsplit(":", 1)[1]))
        super().__init__(os.environ["CITUS_TEST_DSN"], nodes, unreachable)

    @property
    def existing_workers(self) -> list[Node]:
        """The cluster's workers that are not nodes to add, in nodeid order."""
        news = {(n.host, n.port) for n in self.new_workers}
        return [Node(r["nodename"], r["nodeport"]) for r in self.sql(
            "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND isactive ORDER BY nodeid")
            if (r["nodename"], r["nodeport"]) not in news]

    @property
    def can_break(self) -> bool:
        return bool(os.environ.get("CITUS_TEST_STOP_NODE") and os.environ.get("CITUS_TEST_START_NODE"))

    def break_node(self, node: Node) -> None:
        os.system(os.environ["CITUS_TEST_STOP_NODE"].format(host=node.host, port=node.port))

    def repair_node(self, node: Node) -> None:
        os.system(os.environ["CITUS_TEST_START_NODE"].format(host=node.host, port=node.port))

    # CITUS_TEST_CLONE_COMMAND / CITUS_TEST_RESTORE_COMMAND: shell commands with {host} {port}
    # {source_host} {source_port} that rebuild a new node as a standby of a worker, and make it a
    # standalone Citus node again; CITUS_TEST_CLONE_TARGET: JSON with the DAG's clone_* params and a
    # {port} placeholder, for the DAG's own basebackup (its data directory emptied by CITUS_TEST_EMPTY_COMMAND).
    @property
    def can_clone(self) -> bool:
        return all(os.environ.get(v) for v in ("CITUS_TEST_CLONE_COMMAND", "CITUS_TEST_RESTORE_COMMAND",
                                               "CITUS_TEST_CLONE_TARGET", "CITUS_TEST_EMPTY_COMMAND"))

    def clone_node(self, source: Node, target: Node) -> None:
        os.system(os.environ["CITUS_TEST_CLONE_COMMAND"].format(host=target.host, port=target.port,
                                                                source_host=source.host, source_port=source.port))

    def clone_target(self, target: Node) -> dict[str, Any]:
        os.system(os.environ["CITUS_TEST_EMPTY_COMMAND"].format(host=target.host, port=target.port))
        return json.loads(os.environ["CITUS_TEST_CLONE_TARGET"].replace("{port}", str(target.port)))

    def restore_node(self, target: Node) -> None:
        os.system(os.environ["CITUS_TEST_RESTORE_COMMAND"].format(host=target.host, port=target.port))

    def ssh_connection(self) -> dict[str, Any] | None:
        """CITUS_TEST_CLONE_SSH: the Airflow SSH connection (JSON) to the new node's host, for the SSH test."""
        value = os.environ.get("CITUS_TEST_CLONE_SSH")
        return json.loads(value) if value else None


def run_dag(conf: dict[str, Any]):
    """citus_scale_out under dag.test(), without its DeadlineAlert (dag.test() crashes on it in 3.3.2)."""
    from citus_scale_out import build_dag

    return build_dag(with_deadline=False).test(run_conf=conf)


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def xcom(dag_run, task_id: str, key: str = "return_value") -> Any:
    """A task's XCom value of this run, read from the Airflow database (SQLite in the tests)."""
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
                           (dag_run.dag_id, dag_run.run_id, task_id, key)).fetchone()
    if row is None:
        return None
    value = json.loads(row[0]) if isinstance(row[0], (str, bytes)) else row[0]
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


@contextlib.contextmanager
def recorded_size_strategy(citus: CitusCluster, sizes: list[int]) -> Iterator[str]:
    """The rebalance strategy ``pgshift_recorded``: each orders shard costs the size a transcript recorded for the
    shard in the same position (plus the 100 MB Citus adds), so a plan made here can be compared with the recorded
    one. Removed on the way out."""
    citus.sql("CREATE FUNCTION pgshift_recorded_size(shardid bigint) RETURNS real LANGUAGE sql AS $$ "
              "SELECT (%s::bigint[])[(SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid = 'orders'::regclass "
              "AND s.shardid <= $1)] + 104857600 $$", (sizes,))
    citus.sql("SELECT citus_add_rebalance_strategy('pgshift_recorded', 'pgshift_recorded_size', "
              "'citus_node_capacity_1', 'citus_shard_allowed_on_node_true', 0.1, 0.01, 0.5)")
    try:
        yield "pgshift_recorded"
    finally:
        citus.sql("DELETE FROM pg_dist_rebalance_strategy WHERE name = 'pgshift_recorded'")
        citus.sql("DROP FUNCTION pgshift_recorded_size(bigint)")
