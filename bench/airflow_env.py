"""What every benchmark sets before Airflow is imported: a private Airflow home (SQLite) and sys.path.

Imported before chain_helpers and the rest, as ``from airflow_env import HOME, ROOT`` (``bench/`` is
on sys.path when a script there runs); the caller removes ``HOME`` when it is done.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# pgshift itself is the installed provider (`make install`); the local tools, DAG files and test helpers are not.
sys.path[:0] = [str(ROOT / "include" / "scripts"), str(ROOT / "dags"), str(ROOT / "tests")]
HOME = Path(tempfile.mkdtemp(prefix="pgshift-bench-airflow-"))
os.environ.update({"AIRFLOW_HOME": str(HOME), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                   "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                   "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
                   "XDG_RUNTIME_DIR": str(HOME)})
