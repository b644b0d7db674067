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
    assert alert.callback.path == "pgshift.common.notifications.deadline.DeadlineMissedNotifier"


def test_every_task_retries_and_is_bounded(dag):
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.execution_timeout is not None, task.task_id
        if isinstance(task, BaseSensorOperator):
            assert 0 < task.timeout < task.execution_timeout.total_seconds(), task.task_id


def test_triggers_are_importable_from_plugins(dag):
    from pgshift.common.triggers.poll import PgShiftPollTrigger

    classpath, kwargs = PgShiftPollTrigger("wal_lag", {"conn_a": "a"}, 1.0, 5.0).serialize()
    assert classpath == "pgshift.common.triggers.poll.PgShiftPollTrigger"
    assert PgShiftPollTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_bad_params_are_refused_before_a_run_starts(dag):
    from airflow.sdk.definitions.param import ParamValidationError

    for bad, name in (({"mode": "logical-please"}, "mode"), ({"b_port": 70000}, "b_port")):
        params = copy.deepcopy(dag.params)
        with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}"):
            params.update(bad)  # ParamsDict validates each value as it is set


def test_schedule_validates_read_only_one_run_at_a_time(dag):
    from airflow.sdk.definitions.param import ParamsDict

    assert dag.schedule == "@hourly"
    assert dag.catchup is False and dag.max_active_runs == 1
    defaults = ParamsDict(copy.deepcopy(dag.params)).dump()  # a scheduled run gets exactly these
    assert defaults["action"] == "validate" and defaults["dry_run"] is True and defaults["app_roles"] == []
    assert defaults["move_aside_data_dir"] is False and defaults["allow_existing_tables_on_c"] is False


def test_a_scheduled_run_only_validates_whatever_it_is_told(dag):
    from types import SimpleNamespace

    from airflow.utils.types import DagRunType

    branch = dag.get_task("choose_action").python_callable
    for run_type, action, expected in ((DagRunType.SCHEDULED, "cutover", ["validate"]),
                                       (DagRunType.SCHEDULED, "setup", ["validate"]),
                                       (DagRunType.MANUAL, "cutover",
                                        ["cutover_gate", "cutover", "publish_migration", "fence_watchdog"]),
                                       (DagRunType.MANUAL, "validate", ["validate"])):
        assert branch(params={"action": action}, dag_run=SimpleNamespace(run_type=run_type)) == expected


def test_fence_to_ready_is_one_task(dag):
    """Every task hop costs seconds of write downtime under a real scheduler."""
    from pgshift.migration.operators.cutover import CutoverGateOperator, CutoverOperator

    cutover = dag.get_task("cutover")
    assert isinstance(cutover, CutoverOperator)
    assert [t.task_id for t in cutover.upstream_list if isinstance(t, CutoverGateOperator)] == ["cutover_gate"]
    assert {t.task_id for t in cutover.downstream_list} == {"publish_migration"}
    assert [o.name for o in dag.get_task("publish_migration").outlets] == ["pgshift_migration_done"]


def test_bad_cutover_params_are_refused(dag):
    from airflow.sdk.definitions.param import ParamValidationError

    for bad, name in (({"action": "drop-everything"}, "action"), ({"app_roles": "app"}, "app_roles"),
                      ({"gate_readings": 0}, "gate_readings"), ({"parity": "most"}, "parity")):
        params = copy.deepcopy(dag.params)
        with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}"):
            params.update(bad)


def test_the_fence_watchdog_runs_beside_the_cutover_in_the_triggerer(dag):
    """Not after it: it must be watching while the cutover holds A fenced."""
    import importlib

    from pgshift.migration.operators.fence_watchdog import FenceWatchdogOperator
    from pgshift.migration.triggers.fence_watchdog import FenceWatchdogTrigger

    watchdog = dag.get_task("fence_watchdog")
    assert isinstance(watchdog, FenceWatchdogOperator)
    assert {t.task_id for t in watchdog.upstream_list} == {"choose_action", "cutover_gate"}
    assert "cutover" not in {t.task_id for t in [*watchdog.upstream_list, *watchdog.downstream_list]}
    classpath, kwargs = FenceWatchdogTrigger("pgshift_a", "run", 1.0).serialize()
    module, _, name = classpath.rpartition(".")
    assert isinstance(getattr(importlib.import_module(module), name)(**kwargs), FenceWatchdogTrigger)


def test_a_fence_watchdog_runs_beside_the_fallback_too(dag):
    """The fallback fences C: its watchdog watches C while the fallback runs, not after it."""
    from types import SimpleNamespace

    from airflow.utils.types import DagRunType

    from pgshift.migration.operators.fence_watchdog import FenceWatchdogOperator

    watchdog = dag.get_task("fallback_watchdog")
    assert isinstance(watchdog, FenceWatchdogOperator) and watchdog.action == "fallback"
    from chain_helpers import chain_config

    # It watches C, through the chain's own connection to C; the cutover's watches A.
    cutover_watchdog = dag.get_task("fence_watchdog")
    rendered = chain_config(conn_a="conn_for_a", conn_c="conn_for_c")
    template = watchdog.config
    try:
        watchdog.config = cutover_watchdog.config = rendered
        assert (watchdog._conn(), cutover_watchdog._conn()) == ("conn_for_c", "conn_for_a")
    finally:
        watchdog.config = cutover_watchdog.config = template
    assert {t.task_id for t in watchdog.upstream_list} == {"choose_action"}
    assert "fallback" not in {t.task_id for t in [*watchdog.upstream_list, *watchdog.downstream_list]}
    branch = dag.get_task("choose_action").python_callable
    assert "fallback_watchdog" in branch(params={"action": "fallback"},
                                         dag_run=SimpleNamespace(run_type=DagRunType.MANUAL))


def test_each_actions_tasks_are_a_task_group_of_their_own(dag):
    """A run's graph shows the path it took: one group per action, task ids left unprefixed."""
    from hybrid_aurora_migration import ACTION_TASKS

    groups = {}
    for action, task_ids in ACTION_TASKS.items():
        (group,) = {dag.get_task(task_id).task_group.group_id for task_id in task_ids}
        groups[action] = group
    assert groups == {"setup": "setup", "validate": "validation", "cutover": "cut_over", "fallback": "way_back",
                      "finish": "finishing", "promote_b": "a_lost"}
    assert {t.task_id for t in dag.tasks if t.task_group.group_id is None} == {"configuration", "choose_action"}


def test_every_migration_operator_takes_the_one_config(dag):
    """Each operator and sensor renders the configuration task's ChainConfig, no param by name."""
    from hybrid_aurora_migration import CONFIG

    from pgshift.migration.operators.configured import ConfiguredOperator

    configured = [t for t in dag.tasks if isinstance(t, ConfiguredOperator)]
    assert len(configured) == 25
    for task in configured:
        assert task.config == CONFIG, task.task_id
        for name in task.template_fields:
            value = getattr(task, name)
            assert "params" not in str(value) and "['values']" not in str(value), (task.task_id, name, value)
