"""citus_scale_out: add worker nodes to a Citus cluster and rebalance its shards.

Two methods (param ``method``):

- ``rebalance`` (online): preflight -> add_nodes -> plan -> (stop here on dry_run) -> start_rebalance ->
  wait_rebalance -> verify. Citus moves the shards in the background (citus_rebalance_start); the DAG waits
  for the job in the triggerer and checks the result.
- ``clone`` (Citus 13.2, about 9x faster, writes to the cloned worker blocked for about 5 s):
  preflight -> clone_basebackup -> wait_clones -> add_clones -> plan (the split) -> (dry_run stops) ->
  promote_clones -> start_rebalance (what the split leaves uneven) -> wait_rebalance -> verify.

Steps of the other method do nothing. docs/citus.md describes every param.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from pgshift.citus.clone import BLOCKING_WINDOW_SECONDS
from pgshift.citus.operators.clone import (
    CitusAddClonesOperator,
    CitusCloneBasebackupOperator,
    CitusClonePlanOperator,
    CitusCloneVerifyOperator,
    CitusPromoteClonesOperator,
)
from pgshift.citus.operators.scale_out import CitusAddNodesOperator, CitusPreflightOperator, CitusRebalanceStartOperator
from pgshift.citus.params import BUILTIN_STRATEGIES, METHODS, TRANSFER_MODES
from pgshift.citus.sensors import CitusCloneLagSensor, CitusRebalanceSensor
from pgshift.common.dag_defaults import dag_arguments, deadline_enabled, with_schema_draft

DAG_ID = "citus_scale_out"
DEADLINE = timedelta(hours=12)
P = "{{{{ params.{} }}}}".format  # a param rendered as its native value

PARAMS: dict[str, Param] = with_schema_draft({
    "coordinator_conn_id": Param("citus_coordinator", type="string", minLength=1, title="Coordinator connection",
                                 section="Cluster",
                                 description="Airflow connection to the Citus coordinator (a superuser: ALTER SYSTEM, "
                                             "citus_add_node). New nodes are reached with its user, password and "
                                             "database, as Citus reaches them."),
    "method": Param("rebalance", type="string", enum=list(METHODS), title="Method", section="Cluster",
                    description="rebalance: add the nodes and move shards online, one at a time (on real Citus "
                                "62-65 s for 500k-2M rows). clone (Citus 13.2): each new node starts as a "
                                "pg_basebackup standby of a worker and is promoted with half of its shards, "
                                "nothing copied again (6.9-7.5 s there, about 9x faster), but writes to the "
                                f"cloned worker are blocked for about {BLOCKING_WINDOW_SECONDS:g} s during the "
                                "promotion."),
    "new_workers": Param([], type="array", items={"type": "string"}, title="New workers", section="Cluster",
                         description="host:port of each node to add, one per line (e.g. 10.0.0.13:5432; IPv6 as "
                                     "[fd00::13]:5432). Citus installed and CREATE EXTENSION citus done there. "
                                     "Method clone: new_host:port=source_host:port (the worker it clones; "
                                     "without =..., the worker with the most data); its data directory empty."),
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
    "clone_data_dir": Param(None, type=["null", "string"], title="Clone: data directory", section="Clone",
                            description="Method clone: the new node's PostgreSQL data directory, empty or missing "
                                        "({host} and {port} are replaced by the new node's)."),
    "clone_bin_dir": Param(None, type=["null", "string"], title="Clone: PostgreSQL bin directory", section="Clone",
                           description="Method clone: where pg_basebackup and pg_ctl are on the new node's host."),
    "clone_ssh_conn_id": Param(None, type=["null", "string"], title="Clone: SSH connection", section="Clone",
                               description="Method clone: SSH connection to the new node's host; empty: this "
                                           "machine."),
    "clone_os_user": Param(None, type=["null", "string"], title="Clone: OS user", section="Clone",
                           description="Method clone: the PostgreSQL OS user on the new node's host (runs "
                                       "pg_basebackup and pg_ctl); empty: the SSH or Airflow user."),
    "clone_start_command": Param(None, type=["null", "string"], title="Clone: start command", section="Clone",
                                 description="Method clone: how to start the new node's server (e.g. systemctl "
                                             "start postgresql@17-main); empty: pg_ctl start."),
    "clone_catchup_timeout_seconds": Param(300, type="integer", minimum=1, maximum=3600,
                                           title="Clone: catch-up timeout (s)", section="Clone",
                                           description="citus_promote_clone_and_rebalance's catchup_timeout_seconds: "
                                                       "longest write-blocking wait for the clone to catch up."),
    "clone_max_lag_bytes": Param(16 * 2**20, type="integer", minimum=0, title="Clone: lag before promotion (bytes)",
                                 section="Clone", description="wait_clones waits until each clone's replay lag is "
                                                              "under this, so the write-blocking catch-up is short."),
    "rebalance_after_clone": Param(True, type="boolean", title="Clone: rebalance afterwards", section="Clone",
                                   description="Method clone: run the ordinary online rebalance for what the split "
                                               "leaves uneven (the split only halves the cloned worker)."),
    "dry_run": Param(False, type="boolean", title="Dry run", section="Rebalance",
                     description="Preflight and plan only: the cluster is not changed, the plan is logged and in "
                                 "XCom. Method clone still builds the standbys (the split plan needs them)."),
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
})



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
        new_nodes = "{{ ti.xcom_pull(task_ids='preflight')['new_nodes'] }}"
        clones = "{{ ti.xcom_pull(task_ids='preflight')['clones'] }}"
        add_nodes = CitusAddNodesOperator(
            task_id="add_nodes", new_workers="{{ [] if params.method == 'clone' else params.new_workers }}",
            dry_run=P("dry_run"), execution_timeout=timedelta(minutes=15), **conn,
        )
        basebackup = CitusCloneBasebackupOperator(
            task_id="clone_basebackup", coordinator_conn_id=P("coordinator_conn_id"), clones=clones,
            bin_dir=P("clone_bin_dir"), ssh_conn_id=P("clone_ssh_conn_id"), os_user=P("clone_os_user"),
            start_command=P("clone_start_command"), execution_timeout=timedelta(hours=12),
        )
        wait_clones = CitusCloneLagSensor(
            task_id="wait_clones", coordinator_conn_id=P("coordinator_conn_id"), clones=clones,
            max_bytes=P("clone_max_lag_bytes"), poll_interval=P("poll_interval_seconds"),
            connect_timeout_seconds=P("connect_timeout_seconds"), timeout=24 * 3600,
            execution_timeout=timedelta(days=1, minutes=10),
        )
        add_clones = CitusAddClonesOperator(
            task_id="add_clones", clones=clones, dry_run=P("dry_run"), execution_timeout=timedelta(minutes=15), **conn,
        )
        plan = CitusClonePlanOperator(
            task_id="plan", new_workers=new_nodes, rebalance_strategy=P("rebalance_strategy"),
            drain_only=P("drain_only"), dry_run=P("dry_run"), method=P("method"), clones=clones,
            catchup_timeout_seconds=P("clone_catchup_timeout_seconds"), execution_timeout=timedelta(minutes=15),
            **conn,
        )

        @task.short_circuit(task_id="stop_if_dry_run", execution_timeout=timedelta(minutes=1))
        def stop_if_dry_run() -> bool:
            """dry_run ends the run here, successfully: the tasks after it are skipped."""
            return not get_current_context()["params"]["dry_run"]

        promote = CitusPromoteClonesOperator(
            task_id="promote_clones", method=P("method"), clones=clones, rebalance_strategy=P("rebalance_strategy"),
            catchup_timeout_seconds=P("clone_catchup_timeout_seconds"), verify_row_counts=P("verify_row_counts"),
            execution_timeout=timedelta(hours=2), **conn,
        )
        start = CitusRebalanceStartOperator(
            task_id="start_rebalance", rebalance_strategy=P("rebalance_strategy"), drain_only=P("drain_only"),
            shard_transfer_mode=P("shard_transfer_mode"),
            max_background_task_executors_per_node=P("max_background_task_executors_per_node"),
            verify_row_counts=P("verify_row_counts"),
            skip="{{ params.method == 'clone' and not params.rebalance_after_clone }}",
            row_counts_before="{{ ti.xcom_pull(task_ids='promote_clones')['row_counts_before'] }}",
            execution_timeout=timedelta(hours=2), **conn,
        )
        wait = CitusRebalanceSensor(
            task_id="wait_rebalance", job_id="{{ ti.xcom_pull(task_ids='start_rebalance')['job_id'] }}",
            poll_interval=P("poll_interval_seconds"), timeout_minutes=P("rebalance_timeout_minutes"),
            timeout=7 * 24 * 3600, execution_timeout=timedelta(days=7, minutes=10), **conn,
        )
        verify = CitusCloneVerifyOperator(
            task_id="verify", new_workers=new_nodes, rebalance_strategy=P("rebalance_strategy"),
            drain_only=P("drain_only"), verify_row_counts=P("verify_row_counts"),
            row_counts_before="{{ ti.xcom_pull(task_ids='start_rebalance')['row_counts_before'] }}",
            require_balanced="{{ params.method != 'clone' or params.rebalance_after_clone }}",
            method=P("method"), clones=clones, execution_timeout=timedelta(hours=2), **conn,
        )
        (preflight >> add_nodes >> basebackup >> wait_clones >> add_clones >> plan >> stop_if_dry_run()
         >> promote >> start >> wait >> verify)
    return dag


dag = build_dag(with_deadline=deadline_enabled())
