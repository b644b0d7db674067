"""A DAG whose runs overrun or fail on demand: the pgshift deadline alert watched on a real deployment.

Built with pgshift's own ``dag_arguments`` so it gets the DAGs' very DeadlineAlert; set
``AIRFLOW__PGSHIFT__DEADLINE_SECONDS`` to bring the deadline within a test's reach and
``AIRFLOW__PGSHIFT__DEADLINE_NOTIFIERS`` to forward the alert (e.g. to ``file_notifier.FileNotifier``).
"""

from __future__ import annotations

import time
from datetime import timedelta

from airflow.sdk import DAG, Param, get_current_context, task

from pgshift.common.dag_defaults import dag_arguments, deadline_enabled

DAG_ID = "pgshift_deadline_probe"
DEADLINE = timedelta(minutes=10)  # the DAG's own; [pgshift] deadline_seconds replaces it when set

_args = dag_arguments(DAG_ID, DEADLINE, deadline_enabled())
_args |= {
    "schedule": None,
    "max_active_runs": 8,  # a test may keep an overrunning run and a failing one going at once
    # No retries: a `fail` run must end failed at once, not after the pgshift backoff.
    "default_args": {**_args["default_args"], "retries": 0},
    "params": {
        "sleep_seconds": Param(0, type="number", minimum=0, description="Sleep this long first."),
        "fail": Param(False, type="boolean", description="Then fail the task (and the run)."),
    },
}

with DAG(**_args) as dag:

    @task
    def probe() -> None:
        params = get_current_context()["params"]
        time.sleep(float(params["sleep_seconds"]))
        if params["fail"]:
            raise RuntimeError("pgshift_deadline_probe: failing as asked (params.fail)")

    probe()
