"""Citus fixtures: pgshift's Citus emulation on local servers, or a real Citus cluster.

Against a real cluster (nothing else changes; see docs/citus.md):
    CITUS_TEST_DSN=postgresql://postgres:secret@10.0.0.10:5432/app \
    CITUS_TEST_NEW_WORKERS="10.0.0.13:5432 10.0.0.14:5432" .venv/bin/pytest tests/citus
The tests then drop and re-create a distributed table ``orders`` and remove those nodes again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from citus_helpers import CONN_ID, CitusCluster, RealCluster
from citus_servers import NODE_NAMES, EmulatedCluster, EmulatedServers
from pgcluster import LocalClusters
from testing_support import free_port_block

BASE_PORT = int(os.environ.get("CITUS_TEST_BASE_PORT", "56100"))
PORTS = 12  # five servers, a clone's, and the sshd of the clone over SSH at BASE_PORT + 10
PREFIX = "pgshift-citus-test-"


def _state_dir() -> Path:
    # Not pytest's tmp_path: it is 0700, and the servers run as an unprivileged user.
    path = Path(tempfile.gettempdir()) / f"{PREFIX}{os.getpid()}"
    path.mkdir(mode=0o755, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def _reap_stale() -> None:
    """Servers of a test session that died (its pid is gone) would hold our ports."""
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = path.name.removeprefix(PREFIX)
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            local = LocalClusters(path, BASE_PORT)
            for name in NODE_NAMES:
                data = path / name / "data"
                if (data / "postmaster.pid").exists():
                    local.run([local.tool("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], check=False)
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def citus_cluster() -> CitusCluster:
    if os.environ.get("CITUS_TEST_DSN"):
        yield RealCluster()
        return
    _reap_stale()
    # Free ports checked, not assumed: the default block lies in Linux's ephemeral range (32768-60999), where any
    # outgoing connection may hold one of them for a while.
    base = BASE_PORT if "CITUS_TEST_BASE_PORT" in os.environ else free_port_block(BASE_PORT, size=PORTS)
    servers = EmulatedServers(_state_dir(), base)
    try:
        servers.start()
        yield EmulatedCluster(servers)
    finally:
        servers.stop()
        shutil.rmtree(servers.state_dir, ignore_errors=True)


@pytest.fixture
def citus(citus_cluster: CitusCluster, monkeypatch: pytest.MonkeyPatch) -> CitusCluster:
    """The cluster reset to the seed: its workers with a distributed ``orders``, new workers not added."""
    citus_cluster.reset()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", citus_cluster.coordinator_uri)
    return citus_cluster
