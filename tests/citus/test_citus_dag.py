"""citus_scale_out's definition: parses, waits deferrably, and keeps its DeadlineAlert, retries and timeouts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pgshift.citus.params import input_problems
from pgshift.citus.sensors import CitusRebalanceSensor

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_the_dag_file_parses_with_its_deadline():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "citus_scale_out.py"))
    assert bag.import_errors == {}
    dag = bag.dags["citus_scale_out"]
    (alert,) = dag.deadline
    assert alert.interval == timedelta(hours=12)
    assert alert.callback.path == "pgshift.common.notifications.deadline.DeadlineMissedNotifier"
    assert alert.callback.kwargs["dag_id"] == "citus_scale_out"
    assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"
    assert dag.render_template_as_native_obj is True


def test_every_task_retries_with_backoff_and_has_a_timeout():
    from citus_scale_out import build_dag

    dag = build_dag()
    assert [t.task_id for t in dag.topological_sort()] == [
        "preflight", "add_nodes", "clone_basebackup", "wait_clones", "add_clones", "plan", "stop_if_dry_run",
        "promote_clones", "start_rebalance", "wait_rebalance", "verify"]
    for task in dag.tasks:
        assert task.retries >= 1 and task.retry_exponential_backoff, task.task_id
        assert task.execution_timeout is not None, task.task_id
    sensor = dag.get_task("wait_rebalance")
    assert isinstance(sensor, CitusRebalanceSensor) and sensor.deferrable
    assert sensor.timeout == 7 * 24 * 3600 and sensor.timeout_minutes == "{{ params.rebalance_timeout_minutes }}"
    assert build_dag(with_deadline=False).deadline is None


def test_param_defaults_ask_only_for_the_workers():
    from citus_scale_out import PARAMS

    defaults = {name: p.value for name, p in PARAMS.items()}
    assert defaults["coordinator_conn_id"] == "citus_coordinator"
    assert input_problems(defaults) == ["new_workers is empty: give at least one host:port (or set drain_only to "
                                        "only drain nodes marked shouldhaveshards=false)"]
    assert input_problems({**defaults, "new_workers": ["10.0.0.13:5432"]}) == []
