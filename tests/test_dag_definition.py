"""hybrid_aurora_migration as the scheduler sees it: parsed from dags/, deadline wired, safe task defaults."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import BaseSensorOperator

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="module")
def dag():
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.dags["hybrid_aurora_migration"]


def test_deadline_alert_is_wired_to_the_notifier(dag):
    (alert,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert alert.interval.total_seconds() == 24 * 3600
    assert alert.callback.path == "pgshift.notify.deadline_missed"


def test_every_task_retries_and_is_bounded(dag):
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.execution_timeout is not None, task.task_id
        if isinstance(task, BaseSensorOperator):
            assert 0 < task.timeout < task.execution_timeout.total_seconds(), task.task_id


def test_triggers_are_importable_from_plugins(dag):
    from pgshift.triggers.poll import PgShiftPollTrigger

    classpath, kwargs = PgShiftPollTrigger("wal_lag", {"conn_a": "a"}, 1.0, 5.0).serialize()
    assert classpath == "pgshift.triggers.poll.PgShiftPollTrigger"
    assert PgShiftPollTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_bad_params_are_refused_before_a_run_starts(dag):
    from airflow.sdk.definitions.param import ParamValidationError

    for bad, name in (({"mode": "logical-please"}, "mode"), ({"b_port": 70000}, "b_port")):
        params = copy.deepcopy(dag.params)
        with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}"):
            params.update(bad)  # ParamsDict validates each value as it is set
