"""What every pgshift DAG shares: task defaults (retries with backoff, a timeout) and its deadline.

Airflow 3 has no task SLAs: the "SLA" is a DeadlineAlert on the run plus per-task execution_timeout
and sensor timeouts.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
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


def dag_arguments(dag_id: str, deadline: timedelta, with_deadline: bool = True) -> dict[str, Any]:
    """``DAG(...)`` arguments both pgshift DAGs share: one run at a time, no catchup, task defaults,
    params rendered as native values, and the DeadlineAlert (left out only for dag.test(), see below)."""
    return {
        "dag_id": dag_id, "start_date": datetime(2026, 1, 1), "catchup": False, "max_active_runs": 1,
        "default_args": default_args(), "render_template_as_native_obj": True,
        "deadline": deadline_alert(dag_id, deadline) if with_deadline else None,
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
