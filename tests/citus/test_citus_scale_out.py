"""citus_scale_out end to end under dag.test(): what it does to the cluster, and what the user reads."""

from __future__ import annotations

import os
import re
import threading
from urllib.parse import urlparse

import pytest
from airflow.sdk.exceptions import AirflowFailException
from citus_helpers import (
    CONN_ID,
    SEED_ROWS,
    CaptureFds,
    CitusCluster,
    airflow_db_text,
    run_dag,
    task_states,
    wait_for,
    xcom,
)

FAST = {"poll_interval_seconds": 0.2}
AFTER_PREFLIGHT = ("add_nodes", "clone_basebackup", "wait_clones", "add_clones", "plan", "stop_if_dry_run",
                   "promote_clones", "start_rebalance", "wait_rebalance", "verify")


def shard_rows_on(cluster: CitusCluster, node) -> int:
    """Rows really stored on ``node``: its shard tables, read there directly (not through the coordinator)."""
    shards = cluster.sql("SELECT shard_name FROM citus_shards WHERE table_name = 'orders'::regclass "
                         "AND nodename = %s AND nodeport = %s", (node.host, node.port))
    return sum(cluster.value(f'SELECT count(*) FROM "{s["shard_name"]}"', node=node) for s in shards)


@pytest.fixture(scope="module")
def first_run(citus_cluster: CitusCluster):
    """The seed scenario: two workers with orders, one worker added by the DAG."""
    citus_cluster.reset()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", citus_cluster.coordinator_uri)
        before = citus_cluster.shard_counts()
        with CaptureFds() as out:
            dag_run = run_dag({"new_workers": [str(citus_cluster.new_workers[0])], **FAST})
        yield dag_run, before, out.text


def test_seed_scenario_adds_the_worker_and_balances_the_shards(citus_cluster, first_run):
    dag_run, before, log = first_run
    cluster, new = citus_cluster, citus_cluster.new_workers[0]
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert set(task_states(dag_run).values()) == {"success"}
    node = cluster.sql("SELECT isactive, shouldhaveshards FROM pg_dist_node WHERE nodename = %s AND nodeport = %s",
                       (new.host, new.port))
    assert node == [{"isactive": True, "shouldhaveshards": True}]
    counts = cluster.shard_counts()
    assert str(new) not in before and counts[str(new)] > 0
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    assert sum(counts.values()) == sum(before.values())
    # Rows moved with their shards, none lost: counted on the workers themselves and through the coordinator.
    assert shard_rows_on(cluster, new) > 0
    assert cluster.value("SELECT count(*) FROM orders") == SEED_ROWS
    assert cluster.sql("SELECT * FROM get_rebalance_table_shards_plan()") == []
    job = xcom(dag_run, "start_rebalance")
    assert job["attached"] is False and job["row_counts_before"] == {"public.orders": SEED_ROWS}
    assert cluster.value("SELECT state::text FROM pg_dist_background_job WHERE job_id = %s", (job["job_id"],)) == \
        "finished"
    plan = xcom(dag_run, "plan")
    assert {m["target"] for m in plan} == {str(new)} and len(plan) == counts[str(new)]
    # What the user reads: the plan as a table, progress of the moves, the placements afterwards.
    assert "table   shard   size   source → target" in log
    assert f"-> {new}, " in log and "LSN lag" in log
    assert f"Rebalance job {job['job_id']} finished" in log
    assert f"public.orders: {SEED_ROWS} rows, as before the rebalance" in log
    # No secret in the logs, the XComs or the rendered fields.
    password = urlparse(cluster.coordinator_uri).password
    assert password and password not in log and password not in airflow_db_text()


def test_the_wait_logs_progress_with_an_eta_and_returns_the_figures(citus_cluster, first_run):
    """Each reading of wait_rebalance: moves, bytes moved of planned, rate, ETA (or "ETA unknown" while
    Citus gives no rate yet); the last reading's figures are the sensor's XCom."""
    dag_run, _, log = first_run
    job = xcom(dag_run, "start_rebalance")["job_id"]
    plan = xcom(dag_run, "plan")
    lines = re.findall(rf"rebalance job {job}: \d+/{len(plan)} moves, [^;\n]*", log)
    waiting = [ln for ln in lines if "ETA" in ln]
    assert waiting, log  # the job is still scheduled or running when the sensor first reads it
    assert all(re.fullmatch(rf"rebalance job {job}: \d+/{len(plan)} moves, (sizes unknown|"
                            r"\d+(\.\d)? (bytes|kB|MB) of \d+(\.\d)? (bytes|kB|MB) moved \(\d+%\), "
                            r"(rate unknown|\d+(\.\d)? (bytes|kB|MB)/s)), ETA (unknown|\d+ s|\d+ min \d+ s)", ln)
               for ln in waiting), waiting
    finished = [ln for ln in lines if "finished in" in ln]
    assert finished and all(f"{len(plan)}/{len(plan)} moves" in ln and "(100%)" in ln for ln in finished)
    reading = xcom(dag_run, "wait_rebalance")
    assert reading["state"] == "finished"
    sizes = {r["shardid"]: r["shard_size"] for r in citus_cluster.sql("SELECT shardid, shard_size FROM citus_shards")}
    planned = sum(sizes[m["shardid"]] for m in plan)
    progress = reading["progress"]
    assert (progress["moves_done"], progress["moves_total"]) == (len(plan), len(plan))
    assert progress["bytes_planned"] == progress["bytes_moved"] == planned > 0
    assert progress["percent"] == 100 and progress["eta_seconds"] == 0
    assert progress["rate_bytes_per_s"] == pytest.approx(planned / progress["elapsed_seconds"])


def test_rerun_on_the_finished_cluster_moves_nothing(citus_cluster, first_run):
    cluster = citus_cluster
    before = cluster.metadata()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", cluster.coordinator_uri)
        with CaptureFds() as out:
            dag_run = run_dag({"new_workers": [str(cluster.new_workers[0])], **FAST})
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert cluster.metadata() == before  # same nodes, same placements, no new job
    assert xcom(dag_run, "add_nodes")[0]["added"] is False
    assert xcom(dag_run, "plan") == []
    assert xcom(dag_run, "start_rebalance")["job_id"] is None
    assert f"{cluster.new_workers[0]} was already in the cluster as node" in out.text
    assert "No moves available for rebalancing. Nothing to wait for" in out.text


def test_dry_run_returns_the_plan_and_changes_nothing(citus):
    before = citus.metadata()
    new = [str(w) for w in citus.new_workers]
    with CaptureFds() as out:
        dag_run = run_dag({"new_workers": new, "dry_run": True, **FAST})
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert [states[t] for t in ("start_rebalance", "wait_rebalance", "verify")] == ["skipped"] * 3
    assert citus.metadata() == before
    plan = xcom(dag_run, "plan")
    # The plan is made as if both nodes were members: shards go to each of them.
    assert {m["target"] for m in plan} == set(new)
    assert all(m["source"] not in new and m["shard_size"] > 0 for m in plan)
    assert f"dry_run: planned as if {', '.join(new)} were added" in out.text
    assert "dry_run: stopping after the plan; nothing was changed" in out.text


def test_no_moves_succeeds_at_once(citus):
    """A member as "new" worker on a balanced cluster; also sets the executors per node on the way."""
    member = citus.sql("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 ORDER BY nodeid LIMIT 1")[0]
    before = citus.metadata()
    setting = "SELECT current_setting('citus.max_background_task_executors_per_node', true)"
    try:
        dag_run = run_dag({"new_workers": [f"{member['nodename']}:{member['nodeport']}"],
                           "max_background_task_executors_per_node": 3, **FAST})
        # ALTER SYSTEM + pg_reload_conf(): every new session sees it.
        assert citus.value(setting) == "3"
    finally:
        citus.sql("ALTER SYSTEM RESET citus.max_background_task_executors_per_node")
        citus.sql("SELECT pg_reload_conf()")
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert xcom(dag_run, "start_rebalance")["job_id"] is None
    assert xcom(dag_run, "wait_rebalance") == {"job_id": None, "state": None}
    assert citus.metadata() == before


def test_an_already_running_rebalance_is_attached_to(citus):
    citus.tune(move_seconds=0.6)
    new = citus.new_workers[0]
    citus.sql("SELECT citus_add_node(%s, %s)", (new.host, new.port))
    job = citus.value("SELECT citus_rebalance_start()")
    with CaptureFds() as out:
        dag_run = run_dag({"new_workers": [str(new)], **FAST})
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert xcom(dag_run, "start_rebalance")["job_id"] == job
    assert xcom(dag_run, "start_rebalance")["attached"] is True
    assert citus.sql("SELECT job_id, state::text AS state FROM pg_dist_background_job WHERE job_id >= %s",
                     (job,)) == [{"job_id": job, "state": "finished"}]
    assert f"A rebalance is already running as job {job}: attaching to it" in out.text


def test_a_failing_rebalance_fails_the_dag_with_the_task_message(citus):
    if not citus.can_break or (citus.real and not os.environ.get("CITUS_TEST_SLOW")):
        pytest.skip("needs a node that can be stopped (and on real Citus CITUS_TEST_SLOW=1: ~33 min of retries)")
    citus.tune(move_seconds=1, task_max_retries=1, retry_backoff_seconds=0.2)
    new = citus.new_workers[0]

    def stop_target_mid_move() -> None:
        wait_for(lambda: citus.sql("SELECT 1 FROM get_rebalance_progress() WHERE status = 'Copying Data' "
                                   "AND targetport = %s", (new.port,)), 120, what="a move to the new worker")
        citus.break_node(new)

    saboteur = threading.Thread(target=stop_target_mid_move, daemon=True)
    saboteur.start()
    try:
        with CaptureFds() as out:
            dag_run = run_dag({"new_workers": [str(new)], **FAST})
        saboteur.join(5)
    finally:
        citus.repair_node(new)
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed", states
    assert states["wait_rebalance"] == "failed" and states["verify"] == "upstream_failed"
    job = xcom(dag_run, "start_rebalance")["job_id"]
    assert citus.value("SELECT state::text FROM pg_dist_background_job WHERE job_id = %s", (job,)) == "failed"
    message = citus.value("SELECT message FROM pg_dist_background_task WHERE job_id = %s AND status = 'error'", (job,))
    citus_error = message.split("\n")[0]  # "ERROR: Could not fetch disk stats for node: 127.0.0.1-<port>"
    assert citus_error.startswith("ERROR: ") and str(new.port) in citus_error
    assert f"Citus rebalance job {job} failed: task " in out.text
    assert f"failed after 2 retries: {citus_error}" in out.text
    assert citus.value("SELECT count(*) FROM orders") == SEED_ROWS


def test_an_unreachable_new_node_fails_preflight_and_changes_nothing(citus):
    before = citus.metadata()
    with CaptureFds() as out:
        dag_run = run_dag({"new_workers": [str(citus.new_workers[0]), str(citus.unreachable)], **FAST})
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed"
    assert states["preflight"] == "failed"
    assert {states[t] for t in AFTER_PREFLIGHT} == {"upstream_failed"}
    assert citus.metadata() == before
    assert (f"new worker {citus.unreachable}: cannot connect from Airflow with the coordinator's credentials: "
            in out.text)
    assert "Connection refused" in out.text


def test_add_nodes_leaves_the_metadata_as_it_was_when_a_node_is_unreachable(citus):
    """The add step alone (preflight bypassed): the node it had added is removed again."""
    from pgshift.citus.operators.scale_out import CitusAddNodesOperator

    before = citus.metadata()
    op = CitusAddNodesOperator(task_id="add_nodes", coordinator_conn_id=CONN_ID,
                               new_workers=[str(citus.new_workers[0]), str(citus.unreachable)])
    with pytest.raises(AirflowFailException) as failure:
        op.execute({})
    message = str(failure.value)
    host, port = citus.unreachable.host, citus.unreachable.port
    assert message.startswith(f"citus_add_node('{host}', {port}) failed: connection to the remote node ")
    assert f"@{host}:{port} failed with the following error: Connection refused" in message
    assert f"Removed the node(s) this task had added ({citus.new_workers[0]}): pg_dist_node is as before" in message
    assert citus.metadata() == before


@pytest.mark.parametrize(("conf", "says"), [
    ({"new_workers": ["127.0.0.1:56x03"]},
     "new_workers: '127.0.0.1:56x03': the port '56x03' is not a number from 1 to 65535"),
    ({"rebalance_strategy": "by_magic"},
     "rebalance_strategy 'by_magic' is not in pg_dist_rebalance_strategy; known: by_disk_size (default), "
     "by_shard_count"),
])
def test_bad_input_is_refused_before_anything_runs(citus, conf, says):
    before = citus.metadata()
    with CaptureFds() as out:
        dag_run = run_dag({"new_workers": [str(citus.new_workers[0])], **FAST, **conf})
    states = task_states(dag_run)
    assert states["preflight"] == "failed"
    assert {states[t] for t in AFTER_PREFLIGHT} == {"upstream_failed"}
    assert says in out.text
    assert citus.metadata() == before


def test_a_negative_timeout_is_refused_when_the_run_is_created(citus):
    from airflow.sdk.exceptions import ParamValidationError

    before = citus.metadata()
    with pytest.raises(ParamValidationError) as refused:
        run_dag({"new_workers": [str(citus.new_workers[0])], "rebalance_timeout_minutes": -5})
    assert "rebalance_timeout_minutes" in str(refused.value)
    assert "-5 is less than the minimum of 1" in str(refused.value)
    assert citus.metadata() == before
