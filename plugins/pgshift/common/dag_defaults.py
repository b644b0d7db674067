"""What every pgshift DAG shares: task defaults (retries with backoff, a timeout) and its deadline.

Airflow 3 has no task SLAs: the "SLA" is a DeadlineAlert on the run plus per-task execution_timeout
and sensor timeouts. The alert is :class:`~pgshift.common.notifications.deadline.DeadlineMissedNotifier`;
two Airflow settings shape it, read when the DAG file is parsed (``AIRFLOW__PGSHIFT__...`` or airflow.cfg):

``[pgshift] deadline_notifiers``
    JSON list of BaseNotifier classes the alert is forwarded to, e.g.
    ``[{"notifier": "airflow.providers.slack.notifications.slack_webhook.SlackWebhookNotifier",
    "kwargs": {"slack_webhook_conn_id": "slack", "text": "{{ message }}"}}]``. Default ``[]``: log only.
    The kwargs are stored in the serialized DAG in clear: name connections, never put secrets there.
``[pgshift] deadline_seconds``
    Overrides every DAG's own deadline interval when set (a deployment, or a test, can shorten it).

A run's deadline is created with the callback as the DAG had it when the run was queued, so a
changed setting applies to runs queued after the dag-processor re-parsed the file.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, conf

# From their modules: airflow.sdk's stub (3.3.2) does not declare these lazy exports.
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from pgshift.common.notifications.deadline import (
    DEADLINE_SECONDS_KEY,
    DeadlineConfigError,
    DeadlineMissedNotifier,
    NotifierSpec,
    parse_notifier_specs,
)

# The draft every param schema is written in (type lists, exclusiveMinimum as a number, propertyNames: draft 6+).
JSON_SCHEMA_DRAFT = "http://json-schema.org/draft-07/schema#"


def with_schema_draft(params: dict[str, Param]) -> dict[str, Param]:
    """``params``, each schema naming its draft (``$schema``: :data:`JSON_SCHEMA_DRAFT`).

    Airflow's ``Param.resolve`` runs ``jsonschema.validate``, which first checks the schema itself against its
    draft's metaschema; a schema naming none is checked against Draft 2020-12's, about four times slower (0.5 ms
    against 0.12 ms). Serializing a DAG resolves every param of every task twice (the migration DAG: 69 params,
    29 tasks, some 4,000 resolves): 1.5-2 s of CPU at each of the dag-processor's parses of the file, and of
    each ``dag.test()``, against about 0.5 s with the draft named. Validation itself is the same for the
    keywords these schemas use."""
    for param in params.values():
        param.schema.setdefault("$schema", JSON_SCHEMA_DRAFT)
    return params


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
    params rendered as native values, and the DeadlineAlert (left out only for dag.test(), see below).
    ``deadline`` is the DAG's own interval; ``[pgshift] deadline_seconds`` replaces it when set."""
    return {
        "dag_id": dag_id, "start_date": datetime(2026, 1, 1), "catchup": False, "max_active_runs": 1,
        "default_args": default_args(), "render_template_as_native_obj": True,
        "deadline": deadline_alert(dag_id, deadline_interval(deadline)) if with_deadline else None,
    }


def deadline_alert(dag_id: str, interval: timedelta) -> DeadlineAlert:
    """The run's deadline: ``interval`` after it was queued, alerting through DeadlineMissedNotifier."""
    kwargs = {"dag_id": dag_id, "allowed_seconds": interval.total_seconds(),
              "notifiers": json.dumps(deadline_notifiers())}
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=interval,
                         callback=AsyncCallback(DeadlineMissedNotifier, kwargs=kwargs))


def deadline_notifiers() -> list[NotifierSpec]:
    """``[pgshift] deadline_notifiers``, validated: a bad value fails the DAG's parse, naming the key."""
    return parse_notifier_specs(conf.get("pgshift", "deadline_notifiers", fallback="[]"))


def deadline_interval(default: timedelta) -> timedelta:
    """``[pgshift] deadline_seconds`` if set (a positive number of seconds), else the DAG's ``default``."""
    raw = conf.get("pgshift", "deadline_seconds", fallback="").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not (seconds > 0 and math.isfinite(seconds)):
        raise DeadlineConfigError(f"{DEADLINE_SECONDS_KEY} must be a positive number of seconds, got {raw!r}")
    return timedelta(seconds=seconds)


def deadline_enabled() -> bool:
    """``PGSHIFT_DEADLINE=off`` exists only for ``airflow dags test``: Airflow 3.3.2's dag.test() crashes at
    the end of a run of a DAG with a DeadlineAlert. Deployed DAGs always keep it."""
    return os.environ.get("PGSHIFT_DEADLINE", "on") != "off"
