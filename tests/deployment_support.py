"""A real Airflow deployment for the tests (include/scripts/airflow_local.py, what `make demo` runs).

``running_deployment`` gives its own A, B and C (sample data at pgbench ``scale``, role ``app`` allowed to
write), the four Airflow processes over a metadata cluster, and a REST client; everything is stopped and removed after.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from airflow_local import AirflowApi, AirflowDeployment, failure_reason
from pgcluster import LocalClusters
from sample_data import load_sample
from testing_support import free_port_block, state_dir

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "hybrid_aurora_migration"


@contextlib.contextmanager
def running_deployment(name: str, extra_dags: Iterable[Path] = (), extra_path: Iterable[Path] = (),
                       extra_env: dict[str, str] | None = None, scale: int = 1, orders: int = 1000,
                       ) -> Iterator[tuple[LocalClusters, AirflowDeployment, AirflowApi]]:
    cl = LocalClusters(state_dir(name), free_port_block())
    home = state_dir(f"{name}-airflow")
    dags = Path(tempfile.mkdtemp(prefix=f"pgshift-{name}-dags-"))
    os.chmod(dags, 0o755)
    for dag_file in [*sorted((ROOT / "dags").glob("*.py")), *extra_dags]:
        (dags / dag_file.name).symlink_to(dag_file)
    path = {"PYTHONPATH": os.pathsep.join(str(p) for p in extra_path)} if extra_path else {}
    dep = AirflowDeployment(cl, home, dags_folder=dags, extra_env={**path, **(extra_env or {})})
    api = None
    try:
        cl.start()
        load_sample(cl, scale=scale, orders=orders)
        cl.sql(cl.a, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app; "
                     "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO app")
        dep.start()
        api = dep.api()
        api.wait_dag(DAG_ID)
        yield cl, dep, api
    except BaseException:
        print(process_logs(dep), file=sys.stderr)
        raise
    finally:
        if api:
            api.close()
        dep.stop()
        keep_logs(dep, name)
        cl.destroy()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(dags, ignore_errors=True)


def keep_logs(dep: AirflowDeployment, name: str) -> None:
    """The processes' and tasks' logs outlive the deployment, as test artifacts (tests/artifacts/, gitignored)."""
    target = Path(os.environ.get("PGSHIFT_TEST_ARTIFACTS", ROOT / "tests" / "artifacts")) / f"{name}-logs"
    shutil.rmtree(target, ignore_errors=True)
    for sub in ("process-logs", "logs"):
        if (dep.home / sub).exists():
            shutil.copytree(dep.home / sub, target / sub, ignore_dangling_symlinks=True)


def process_logs(dep: AirflowDeployment) -> str:
    """The last lines of each Airflow process's own log, for a failure's explanation."""
    out = []
    for log in sorted(dep.log_dir.glob("*.log")) if dep.log_dir.exists() else []:
        out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
    return "\n".join(out)


def wait(api: AirflowApi, run_id: str, timeout: float = 600, dag_id: str = DAG_ID) -> tuple[str, set[str]]:
    """The run's end state, and every task seen ``deferred`` while it ran."""
    deferred: set[str] = set()
    state = api.wait_run(dag_id, run_id, timeout,
                         on_poll=lambda states: deferred.update(t for t, s in states.items() if s == "deferred"))
    return state, deferred


def explain(api: AirflowApi, run_id: str, dag_id: str = DAG_ID) -> str:
    """Task states and the failure, for an assertion message."""
    return f"{api.task_states(dag_id, run_id)}\n{failure_reason(api, dag_id, run_id)}"


def report(dep: AirflowDeployment, kind: str, run_id: str) -> dict[str, Any]:
    """A run's validation, cutover, fallback or finish report from the deployment's report directory."""
    from pgshift.common.report import safe_name

    root = Path(dep.env()["PGSHIFT_REPORT_DIR"])
    path = root / "validate" / f"{safe_name(run_id)}.json" if kind == "validate" else \
        root / kind / safe_name(run_id) / "report.json"
    return dict(json.loads(path.read_text()))
