"""Test set-up: a private Airflow home (SQLite), real PostgreSQL clusters A/B/C on loopback.

Airflow reads its configuration at import time, so the environment is set here, before any test
module imports it. Connections reach Airflow as AIRFLOW_CONN_* variables, as in production.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# pgshift itself comes from the installed provider (`make install`: editable, from this checkout), as in a
# deployment; only the local tools and the DAG files are put on the path.
for sub in ("include/scripts", "dags"):
    if str(ROOT / sub) not in sys.path:
        sys.path.insert(0, str(ROOT / sub))

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="pgshift-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(_AIRFLOW_HOME / "plugins"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_AIRFLOW_HOME / "logs"),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", str(_AIRFLOW_HOME)),
})

from pgcluster import LocalClusters  # noqa: E402
from testing_support import MotoServer, free_port_block, installed_pgshift, state_dir  # noqa: E402

installed_pgshift(ROOT)


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> Path:
    """``airflow db migrate`` once per session (~5 s); servers and deployments a dead session left are stopped."""
    _reap_stale_state_dirs()
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env=os.environ.copy())
    yield _AIRFLOW_HOME
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def no_recorded_chain(airflow_db: Path) -> Iterator[None]:
    """Each module starts as a fresh deployment. A finished setup records its chain in a Variable that later
    runs take as their defaults: one module's chain (SSH, dms mode, names) must not leak into the next."""
    from airflow.models import Variable

    from pgshift.migration.configuration import variable_key

    Variable.delete(variable_key("hybrid_aurora_migration"))
    yield
    Variable.delete(variable_key("hybrid_aurora_migration"))


def _reap_stale_state_dirs() -> None:
    """Servers left by a test session that died (its pid is gone) would hold our ports."""
    for path in Path(tempfile.gettempdir()).glob("pgshift-test-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            if (path / "run").is_dir():  # an Airflow deployment's home (tests/deployment_support.py)
                from airflow_local import AirflowDeployment

                AirflowDeployment(LocalClusters(path, 1), path).stop(grace=5)
            LocalClusters(path, 1).destroy_servers_only()
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def clusters() -> LocalClusters:
    """A (primary, sample data) and C running; B's data directory empty; connections exported."""
    _reap_stale_state_dirs()
    cl = LocalClusters(state_dir("chain"), free_port_block())
    try:
        cl.start()
        from sample_data import load_sample

        load_sample(cl, scale=1, orders=2000)
    except BaseException:
        cl.destroy()
        raise
    os.environ.update(cl.airflow_connections())
    yield cl
    cl.destroy()




@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto as a server on a free port of 127.0.0.1, shared by the DMS tests (each resets it)."""
    server = MotoServer(state_dir("moto") / "moto.log")
    yield server
    server.stop()
