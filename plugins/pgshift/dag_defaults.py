"""What every pgshift DAG shares: task defaults (retries with backoff, a timeout) and its deadline.

Airflow 3 has no task SLAs: the "SLA" is a DeadlineAlert on the run plus per-task execution_timeout
and sensor timeouts.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference


def default_args() -> dict[str, Any]:
    return {
        "owner": "pgshift",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=30),
    }


def deadline_alert(dag_id: str, interval: timedelta) -> DeadlineAlert:
    """Fires ``pgshift.notify.deadline_missed`` (log + pluggable notifier) when a run overruns."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=interval,
        callback=AsyncCallback("pgshift.notify.deadline_missed", kwargs={"dag_id": dag_id, "allowed": str(interval)}),
    )


def deadline_enabled() -> bool:
    """``PGSHIFT_DEADLINE=off`` exists only for ``airflow dags test``: Airflow 3.3.2's dag.test() crashes at
    the end of a run of a DAG with a DeadlineAlert. Deployed DAGs always keep it."""
    return os.environ.get("PGSHIFT_DEADLINE", "on") != "off"
