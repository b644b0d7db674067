"""hybrid_aurora_migration_sync_guard: A falls back to asynchronous replication when B is gone.

With ``synchronous_standby`` on (hybrid_aurora_migration's param), A's commits wait for B; PostgreSQL has no timeout
for that, so this DAG does it: one run at a time, back to back (``@continuous``), each a task deferred to the
triggerer that watches A every second for 30 minutes (pgshift.migration.sync.guard). B not A's synchronous standby
for ``synchronous_fallback_seconds``: A's synchronous_standby_names goes back to its earlier value, releasing the
waiting commits; B streaming again and caught up: A names B again. Each change ends the run with the reason in its
log and a message to ``[pgshift] deadline_notifiers``. With the option off it only waits.

Unpaused at creation, so that no manual step is needed; it must stay unpaused (and a triggerer must run) while the
chain is synchronous, or A's writes wait when B is gone. docs/migration.md says more.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from airflow.sdk import DAG

from pgshift.common.dag_defaults import deadline_notifiers
from pgshift.migration.operators.synchronous import SyncGuardOperator

DAG_ID = "hybrid_aurora_migration_sync_guard"
GUARDED_DAG = "hybrid_aurora_migration"
WINDOW = timedelta(minutes=30)

with DAG(
    dag_id=DAG_ID,
    description="Falls A back to asynchronous replication when B is gone (synchronous_standby)",
    doc_md=__doc__,
    schedule="@continuous",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    default_args={"owner": "pgshift", "retries": 3, "retry_delay": timedelta(seconds=5)},
    tags=["pgshift", "migration"],
) as dag:
    SyncGuardOperator(task_id="guard", dag_id_guarded=GUARDED_DAG, window_seconds=WINDOW.total_seconds(),
                      poll_interval=1.0, notifiers=json.dumps(deadline_notifiers()),
                      execution_timeout=WINDOW + timedelta(minutes=10))
