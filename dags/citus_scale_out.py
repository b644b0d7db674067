"""citus_scale_out: add worker nodes to a Citus cluster and rebalance its shards without downtime.

preflight -> add_nodes -> plan -> (stop here on dry_run) -> start_rebalance -> wait_rebalance -> verify.
Citus moves the shards in the background (citus_rebalance_start); the DAG waits for the job in the
triggerer and checks the result. docs/citus.md describes every param.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from pgshift.citus_params import BUILTIN_STRATEGIES, TRANSFER_MODES
from pgshift.dag_defaults import dag_arguments, deadline_enabled
from pgshift.operators.citus import (
    CitusAddNodesOperator,
    CitusPreflightOperator,
    CitusRebalancePlanOperator,
    CitusRebalanceStartOperator,
    CitusVerifyOperator,
)
from pgshift.sensors.citus import CitusRebalanceSensor

DAG_ID = "citus_scale_out"
DEADLINE = timedelta(hours=12)
P = "{{{{ params.{} }}}}".format  # a param rendered as its native value

PARAMS: dict[str, Param] = {
    "coordinator_conn_id": Param("citus_coordinator", type="string", minLength=1, title="Coordinator connection",
                                 section="Cluster",
                                 description="Airflow connection to the Citus coordinator (a superuser: ALTER SYSTEM, "
                                             "citus_add_node). New nodes are reached with its user, password and "
                                             "database, as Citus reaches them."),
    "new_workers": Param([], type="array", items={"type": "string"}, title="New workers", section="Cluster",
                         description="host:port of each node to add, one per line (e.g. 10.0.0.13:5432; IPv6 as "
                                     "[fd00::13]:5432). Citus installed and CREATE EXTENSION citus done there."),
    "rebalance_strategy": Param("by_disk_size", type="string", minLength=1, maxLength=63, title="Rebalance strategy",
                                section="Rebalance", examples=list(BUILTIN_STRATEGIES),
                                description="by_disk_size (Citus's default), by_shard_count, or the name of a custom "
                                            "strategy in pg_dist_rebalance_strategy."),
    "shard_transfer_mode": Param("auto", type="string", enum=list(TRANSFER_MODES), title="Shard transfer mode",
                                 section="Rebalance",
                                 description="auto: logical replication where tables have a replica identity, "
                                             "else fail; force_logical; block_writes: writes to a shard wait while "
                                             "it moves."),
    "drain_only": Param(False, type="boolean", title="Drain only", section="Rebalance",
                        description="Only move shards off nodes marked shouldhaveshards=false."),
    "max_background_task_executors_per_node": Param(None, type=["null", "integer"], minimum=1,
                                                    title="Background executors per node", section="Rebalance",
                                                    description="Empty: leave citus.max_background_task_executors_"
                                                                "per_node alone. Else ALTER SYSTEM + reload."),
    "dry_run": Param(False, type="boolean", title="Dry run", section="Rebalance",
                     description="Preflight and plan only: nothing is changed, the plan is logged and in XCom."),
    "verify_row_counts": Param(True, type="boolean", title="Verify row counts", section="Checks",
                               description="count(*) every distributed table before and after. Turn off on large "
                                           "tables, or when applications write during the rebalance."),
    "rebalance_timeout_minutes": Param(360, type="integer", minimum=1, maximum=7 * 24 * 60,
                                       title="Rebalance timeout (minutes)",
                                       section="Timeouts", description="Give up waiting for the job after this."),
    "statement_timeout_seconds": Param(600, type="integer", minimum=1, title="Statement timeout (seconds)",
                                       section="Timeouts", description="statement_timeout of every SQL statement."),
    "connect_timeout_seconds": Param(10, type="integer", minimum=1, maximum=300, title="Connect timeout (seconds)",
                                     section="Timeouts"),
    "poll_interval_seconds": Param(10, type="number", minimum=0.1, maximum=600, title="Status poll interval (s)",
                                   section="Timeouts"),
}



def build_dag(*, with_deadline: bool = True) -> DAG:
    """The DAG. ``with_deadline=False`` exists only for dag.test(), which crashes on deadlines in 3.3.2."""
    conn: dict[str, Any] = {"coordinator_conn_id": P("coordinator_conn_id"),
                            "connect_timeout_seconds": P("connect_timeout_seconds"),
                            "statement_timeout_seconds": P("statement_timeout_seconds")}
    with DAG(
        **dag_arguments(DAG_ID, DEADLINE, with_deadline),
        description="Add Citus worker nodes and rebalance shards in the background",
        doc_md=__doc__,
        schedule=None,
        params=PARAMS,
        tags=["pgshift", "citus"],
    ) as dag:
        preflight = CitusPreflightOperator(
            task_id="preflight", inputs={name: P(name) for name in PARAMS}, execution_timeout=timedelta(minutes=5),
            **conn,
        )
        add_nodes = CitusAddNodesOperator(
            task_id="add_nodes", new_workers=P("new_workers"), dry_run=P("dry_run"),
            execution_timeout=timedelta(minutes=15), **conn,
        )
        plan = CitusRebalancePlanOperator(
            task_id="plan", new_workers=P("new_workers"), rebalance_strategy=P("rebalance_strategy"),
            drain_only=P("drain_only"), dry_run=P("dry_run"), execution_timeout=timedelta(minutes=15), **conn,
        )

        @task.short_circuit(task_id="stop_if_dry_run", execution_timeout=timedelta(minutes=1))
        def stop_if_dry_run(params: dict | None = None) -> bool:
            """dry_run ends the run here, successfully: the tasks after it are skipped."""
            return not params["dry_run"]

        start = CitusRebalanceStartOperator(
            task_id="start_rebalance", rebalance_strategy=P("rebalance_strategy"), drain_only=P("drain_only"),
            shard_transfer_mode=P("shard_transfer_mode"),
            max_background_task_executors_per_node=P("max_background_task_executors_per_node"),
            verify_row_counts=P("verify_row_counts"), execution_timeout=timedelta(hours=2), **conn,
        )
        wait = CitusRebalanceSensor(
            task_id="wait_rebalance", job_id="{{ ti.xcom_pull(task_ids='start_rebalance')['job_id'] }}",
            poll_interval=P("poll_interval_seconds"), timeout_minutes=P("rebalance_timeout_minutes"),
            timeout=7 * 24 * 3600, execution_timeout=timedelta(days=7, minutes=10), **conn,
        )
        verify = CitusVerifyOperator(
            task_id="verify", new_workers=P("new_workers"), rebalance_strategy=P("rebalance_strategy"),
            drain_only=P("drain_only"), verify_row_counts=P("verify_row_counts"),
            row_counts_before="{{ ti.xcom_pull(task_ids='start_rebalance')['row_counts_before'] }}",
            execution_timeout=timedelta(hours=2), **conn,
        )
        preflight >> add_nodes >> plan >> stop_if_dry_run() >> start >> wait >> verify
    return dag


dag = build_dag(with_deadline=deadline_enabled())
