"""Parse one DAG file in a fresh interpreter, as the dag-processor does, and tell what it cost.

Shared by tests/test_parse_time.py and bench/parse_time.py. The child imports ``airflow.sdk`` first (every
DAG file pays for it, and it already loads part of SQLAlchemy and each provider's ``get_provider_info``),
then times the import of the DAG file, which builds its DAG, and lists the heavy modules that import loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
# Modules a DAG file must not load when it is parsed (the worker imports them where a task executes).
HEAVY_MODULES = (
    "paramiko", "asyncssh", "boto3", "botocore", "sqlalchemy", "psycopg2", "matplotlib",
    "airflow.providers.amazon.aws", "airflow.providers.ssh.hooks", "airflow.providers.ssh.operators",
    "airflow.providers.postgres.hooks", "airflow.providers.common.sql.hooks",
)

_CHILD = """
import importlib.util, json, sys, time
import airflow.sdk
before = set(sys.modules)
path, heavy = sys.argv[1], sys.argv[2].split(",")
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("pgshift_parsed_dag", path)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
seconds = time.perf_counter() - t0
new = set(sys.modules) - before
print(json.dumps({"seconds": seconds,
                  "dags": sorted(d.dag_id for d in vars(module).values() if isinstance(d, airflow.sdk.DAG)),
                  "heavy": sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in new))}))
"""


@dataclass(frozen=True)
class Parse:
    seconds: float  # import of the DAG file (its DAG built), after ``import airflow.sdk``
    dags: list[str]
    heavy: list[str]  # HEAVY_MODULES loaded (themselves or a submodule) by that import


def parse_fresh(dag_file: Path, env: dict[str, str] | None = None) -> Parse:
    """Import ``dag_file`` in a new interpreter with plugins/ and dags/ on sys.path, as Airflow puts them."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "plugins"), str(ROOT / "dags")])
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    out = subprocess.run([sys.executable, "-c", _CHILD, str(dag_file), ",".join(HEAVY_MODULES)], env=env,
                         capture_output=True, text=True, check=False, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"parsing {dag_file.name} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return Parse(seconds=result["seconds"], dags=result["dags"], heavy=result["heavy"])
