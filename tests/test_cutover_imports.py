"""The cutover's modules are imported when the DAG is parsed: they must not load a database driver or cloud SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["pgshift.migration.switchover.cutover.phases", "pgshift.migration.switchover.cutover.recovery",
           "pgshift.migration.switchover.cutover.results", "pgshift.migration.switchover.fence",
           "pgshift.migration.switchover.drain", "pgshift.migration.switchover.sequences",
           "pgshift.migration.verify.parity", "pgshift.migration.switchover.lease",
           "pgshift.migration.switchover.watchdog"]
HEAVY = ("psycopg2", "paramiko", "asyncssh", "boto3", "botocore", "matplotlib", "airflow.providers.postgres",
         "airflow.providers.amazon", "airflow.providers.ssh")


def test_cutover_modules_import_no_driver_at_parse_time() -> None:
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'plugins')!r})\n"
        "import airflow.sdk.exceptions\n"
        "before = set(sys.modules)\n"  # what Airflow itself loads (its provider discovery) is not the modules' doing
        f"for m in {MODULES!r}: __import__(m)\n"
        f"print(sorted(m for m in set(sys.modules) - before if m.startswith({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout
