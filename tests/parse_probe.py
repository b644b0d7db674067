"""Parse one DAG file in a fresh interpreter, as the dag-processor does, and tell what it cost.

Shared by tests/test_parse_time.py and bench/parse_time.py. The child imports ``airflow.sdk`` first (every
DAG file pays for it, and it already loads part of SQLAlchemy, jsonschema and each provider's
``get_provider_info``), then freezes the garbage collector as the dag-processor does before it forks a parse
(``gc.freeze()`` in ``DagFileProcessorManager.before_run``, airflow/dag_processing/manager.py: what is loaded by
then is never scanned again), then times the import of the DAG file, which builds its DAG, and lists the heavy
modules that import loaded. Without the freeze, the first full collection after the import of ``airflow.sdk``
(about 0.1 s over its 150,000 objects) would be charged to whichever DAG file allocates enough to trigger it.
With ``trace``, the child runs under ``-X importtime`` and tells, for each heavy module, the chain of imports
from the DAG file that loaded it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
# Modules a DAG file must not load when it is parsed (the worker imports them where a task executes): the
# drivers and clients behind the providers' hooks, the chart, and the hooks themselves. A module that
# ``airflow.sdk`` already loads (sqlalchemy, jsonschema, cryptography) counts only for what the parse adds to it.
HEAVY_MODULES = (
    "paramiko", "asyncssh", "sshtunnel", "cryptography", "boto3", "botocore", "aiobotocore", "requests",
    "sqlalchemy", "psycopg2", "jsonschema", "matplotlib", "numpy", "PIL", "pandas",
    "airflow.providers.amazon.aws", "airflow.providers.ssh.hooks", "airflow.providers.ssh.operators",
    "airflow.providers.postgres.hooks", "airflow.providers.common.sql.hooks",
)

_MARK = "pgshift-parse-probe: the DAG file's imports follow"
_CHILD = """
import gc, importlib.util, json, sys, time
import airflow.sdk
path, heavy, mark, freeze = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4] == "freeze"
if freeze:
    gc.freeze()
before = set(sys.modules)
print(mark, file=sys.stderr, flush=True)
t0, c0 = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("pgshift_parsed_dag", path)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
new = set(sys.modules) - before
print(json.dumps({"seconds": seconds, "cpu": cpu,
                  "dags": sorted(d.dag_id for d in vars(module).values() if isinstance(d, airflow.sdk.DAG)),
                  "heavy": sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in new))}))
"""


@dataclass(frozen=True)
class Parse:
    seconds: float  # import of the DAG file (its DAG built), after ``import airflow.sdk``
    cpu: float  # the same, in the child's CPU time: less swayed than ``seconds`` when the machine is busy
    dags: list[str]
    heavy: list[str]  # HEAVY_MODULES loaded (themselves or a submodule) by that import
    # With ``trace``: for each heavy module, the imports from the DAG file to it ("x.py -> pkg.mod -> psycopg2")
    chains: dict[str, list[str]] = field(default_factory=dict)

    def explain(self) -> str:
        """One line per heavy module, with the chain that loaded it when traced."""
        return "\n".join(f"  {h}: {' -> '.join(self.chains.get(h, [])) or '(run with trace for the chain)'}"
                         for h in self.heavy)


def import_chains(importtime: str, dag_name: str, heavy: list[str]) -> dict[str, list[str]]:
    """For each of ``heavy``, the chain of imports that first loaded it, read from ``-X importtime`` output.

    importtime prints a module when its import ends, after the modules it imported, indented two spaces a
    level: a module's importer is the next line with less indentation. The DAG file itself is executed, not
    imported, so its own imports are the least indented lines after the mark.
    """
    lines = importtime.split(_MARK, 1)[-1].splitlines()
    entries: list[tuple[int, str]] = []  # (depth, module) in output order
    for line in lines:
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        name_field = line.rsplit("|", 1)[1]
        name = name_field.strip()
        if name == "imported package":
            continue
        entries.append(((len(name_field) - len(name_field.lstrip(" ")) - 1) // 2, name))
    chains: dict[str, list[str]] = {}
    for h in heavy:
        hits = [i for i, (_, name) in enumerate(entries) if name == h or name.startswith(h + ".")]
        if not hits:
            continue
        i = min(hits, key=lambda k: entries[k][0])  # the outermost import of it: the rest are its own imports
        depth, chain = entries[i][0], [entries[i][1]]
        for later_depth, name in entries[i + 1:]:
            if later_depth < depth:
                chain.append(name)
                depth = later_depth
        chains[h] = [dag_name, *reversed(chain)]
    return chains


def parse_fresh(dag_file: Path, env: dict[str, str] | None = None, trace: bool = False,
                gc_freeze: bool = True) -> Parse:
    """Import ``dag_file`` in a new interpreter with plugins/ and dags/ on sys.path, as Airflow puts them.
    ``trace``: under ``-X importtime``, to name the chain that loaded each heavy module (slower: not for timing).
    ``gc_freeze=False``: no freeze after ``import airflow.sdk`` (how the bench measured before it modelled it)."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "plugins"), str(ROOT / "dags")])
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    argv = [sys.executable, *(["-X", "importtime"] if trace else []), "-c", _CHILD, str(dag_file),
            ",".join(HEAVY_MODULES), _MARK, "freeze" if gc_freeze else "no-freeze"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"parsing {dag_file.name} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    chains = import_chains(out.stderr, dag_file.name, result["heavy"]) if trace else {}
    return Parse(seconds=result["seconds"], cpu=result["cpu"], dags=result["dags"], heavy=result["heavy"],
                 chains=chains)
