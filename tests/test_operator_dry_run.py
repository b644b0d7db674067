"""Operators that take a ``dry_run`` argument keep BaseOperator.dry_run() (it renders and logs the templates).

They once stored the argument as ``self.dry_run``, which replaced the method with a value: ``task.dry_run()``
raised TypeError. The argument keeps its name; a dry run still changes nothing.
"""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowSkipException
from chain_helpers import chain_config

from pgshift.citus.operators.scale_out import CitusAddNodesOperator
from pgshift.migration.operators.fence_watchdog import FenceWatchdogOperator


@pytest.mark.parametrize(("module", "task_ids"), [
    ("hybrid_aurora_migration", ["fence_watchdog", "cutover_gate", "cutover"]),
    ("citus_scale_out", ["add_nodes", "plan"]),
])
def test_dry_run_method_works_on_the_dags_tasks(module: str, task_ids: list[str]) -> None:
    dag = __import__(module).build_dag(with_deadline=False)
    for task_id in task_ids:
        task = dag.get_task(task_id)
        task.dry_run()  # TypeError when an attribute hid the method
        if module == "hybrid_aurora_migration":  # dry_run is in the one config they take
            assert task.config == __import__(module).CONFIG, task_id
        else:
            assert task.is_dry_run == "{{ params.dry_run }}", task_id


def test_a_dry_run_watchdog_skips_without_reaching_a() -> None:
    watchdog = FenceWatchdogOperator(task_id="fence_watchdog",
                                     config=chain_config(conn_a="no_such_connection", dry_run=True))
    with pytest.raises(AirflowSkipException, match="dry run"):
        watchdog.execute({})


def test_a_dry_run_add_nodes_adds_nothing_and_reaches_no_coordinator() -> None:
    add = CitusAddNodesOperator(task_id="add_nodes", coordinator_conn_id="no_such_connection",
                                new_workers=["10.0.0.13:5432"], dry_run=True)
    assert add.execute({}) == []
