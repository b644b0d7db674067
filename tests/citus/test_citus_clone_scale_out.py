"""citus_scale_out with method clone under dag.test(): a new node cloned from a worker and promoted.

The new node's data directory is emptied first (``clone_target``); the DAG itself takes the basebackup
(pgshift's basebackup script, locally), registers the standby as a clone, promotes it and rebalances the rest.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest
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
from test_citus_scale_out import FAST, shard_rows_on

from pgshift.citus.clone import slot_name


def clone_conf(cluster: CitusCluster, **more) -> dict:
    new, source = cluster.new_workers[0], cluster.existing_workers[0]
    return {"method": "clone", "new_workers": [f"{new}={source}"], **cluster.clone_target(new), **FAST, **more}


@pytest.fixture(scope="module")
def clone_run(citus_cluster: CitusCluster):
    """The seed scenario by clone: two workers with orders, a node cloned from worker 1 and promoted."""
    if not citus_cluster.can_clone:
        pytest.skip("no way to empty a new node's data directory (real cluster: CITUS_TEST_CLONE_TARGET & co.)")
    citus_cluster.reset()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", citus_cluster.coordinator_uri)
        before = citus_cluster.shard_counts()
        with CaptureFds() as out:
            dag_run = run_dag(clone_conf(citus_cluster))
        yield dag_run, before, out.text
    citus_cluster.restore_node(citus_cluster.new_workers[0])


def test_seed_scenario_by_clone_promotes_the_node_and_balances_the_shards(citus_cluster, clone_run):
    dag_run, before, log = clone_run
    cluster, new, source = citus_cluster, citus_cluster.new_workers[0], citus_cluster.existing_workers[0]
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert set(task_states(dag_run).values()) == {"success"}
    node = cluster.sql("SELECT isactive, noderole::text, shouldhaveshards FROM pg_dist_node "
                       "WHERE nodename = %s AND nodeport = %s", (new.host, new.port))
    assert node == [{"isactive": True, "noderole": "primary", "shouldhaveshards": True}]
    assert cluster.value("SELECT pg_is_in_recovery()", node=new) is False
    counts = cluster.shard_counts()
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    assert sum(counts.values()) == sum(before.values())
    assert cluster.value("SELECT count(*) FROM orders") == SEED_ROWS
    assert cluster.sql("SELECT * FROM get_rebalance_table_shards_plan()") == []
    assert cluster.sql("SELECT * FROM pg_dist_cleanup") == []
    assert cluster.sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s",
                       (slot_name(new.host, new.port),), node=source) == []
    # The split: half of worker 1's shards stayed on the clone, nothing copied; then the rebalance for the rest.
    plan = xcom(dag_run, "plan")
    assert {p["placement"] for p in plan} == {"Primary Node", "Clone Node"}
    assert sum(p["placement"] == "Clone Node" for p in plan) == before[str(source)] // 2
    promoted = xcom(dag_run, "promote_clones")
    assert [p["node"] for p in promoted["promoted"]] == [str(new)]
    assert promoted["promoted"][0]["blocked_writes_seconds"] > 0
    assert promoted["row_counts_before"] == {"public.orders": SEED_ROWS}
    # Writable: rows written through the coordinator land on the promoted node's shards.
    stored = shard_rows_on(cluster, new)
    cluster.sql("INSERT INTO orders (shard_key, n) SELECT k, -k FROM generate_series(1000001, 1000200) k")
    assert shard_rows_on(cluster, new) > stored
    cluster.sql("DELETE FROM orders WHERE shard_key > 1000000")
    # What the user reads: the split plan with the write-blocking window, the promotion, the verdict.
    assert f"Split plan for {new}, a clone of {source}" in log
    assert re.search(r"writes to the cloned worker are blocked for about 5\.3 s", log)
    assert re.search(rf"writes to {re.escape(str(source))} were blocked for \d+\.\d s", log)
    assert "Verified: every clone is promoted and writable, no shard copy left to drop" in log
    password = urlparse(cluster.coordinator_uri).password
    assert password and password not in log and password not in airflow_db_text()


def test_the_clone_run_logs_progress_with_an_eta(citus_cluster, clone_run):
    """The rebalance after the split reports bytes moved of planned with an ETA, as the rebalance method does."""
    dag_run, _, log = clone_run
    job = xcom(dag_run, "start_rebalance")["job_id"]
    assert job is not None
    assert re.search(rf"rebalance job {job}: \d+/\d+ moves, .*ETA (unknown|\d+ s)", log), log
    assert re.search(rf"rebalance job {job}: (\d+)/\1 moves, .*\(100%\).*finished in", log)


def test_a_rerun_by_clone_on_the_finished_cluster_moves_nothing(citus_cluster, clone_run):
    cluster = citus_cluster
    before = cluster.metadata()
    new, source = cluster.new_workers[0], cluster.existing_workers[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", cluster.coordinator_uri)
        with CaptureFds() as out:
            dag_run = run_dag({"method": "clone", "new_workers": [f"{new}={source}"], "clone_data_dir": "/nonexistent",
                               "clone_bin_dir": "/nonexistent", **FAST})
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert cluster.metadata() == before
    assert xcom(dag_run, "promote_clones")["promoted"] == []
    assert xcom(dag_run, "start_rebalance")["job_id"] is None
    assert f"{new} is already a member (promoted earlier): no split to plan" in out.text


def test_the_clone_is_built_over_ssh_as_a_deferred_remote_job(citus, monkeypatch):
    """clone_ssh_conn_id: the basebackup script runs on the new node's host through the ssh provider's
    deferrable remote job (dag.test() runs its trigger inline); the node is promoted as locally."""
    ssh = citus.ssh_connection() if citus.can_clone else None
    if ssh is None:
        pytest.skip("no SSH host for the new node (real cluster: CITUS_TEST_CLONE_SSH)")
    monkeypatch.setenv("AIRFLOW_CONN_CITUS_CLONE_SSH", json.dumps(ssh))
    new = citus.new_workers[0]
    with CaptureFds() as out:
        dag_run = run_dag(clone_conf(citus, clone_ssh_conn_id="citus_clone_ssh"))
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert citus.value("SELECT pg_is_in_recovery()", node=new) is False
    assert citus.value("SELECT count(*) FROM orders") == SEED_ROWS
    assert "[B] [basebackup] pg_basebackup from" in out.text  # the script's own output, read back from the host
    assert re.search(r"Pausing task as DEFERRED.*task_id=clone_basebackup", out.text)
    citus.restore_node(new)


def test_dry_run_by_clone_shows_the_split_and_changes_nothing(citus):
    if not citus.can_clone:
        pytest.skip("no way to empty a new node's data directory")
    before = citus.metadata()
    new, source = citus.new_workers[0], citus.existing_workers[0]
    with CaptureFds() as out:
        dag_run = run_dag(clone_conf(citus, dry_run=True))
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert [states[t] for t in ("promote_clones", "start_rebalance", "wait_rebalance", "verify")] == ["skipped"] * 4
    assert citus.metadata() == before
    plan = xcom(dag_run, "plan")
    holds = citus.shard_counts()[str(source)]
    assert len(plan) == holds and sum(p["placement"] == "Clone Node" for p in plan) == holds // 2
    assert all(p["shard_size"] > 0 for p in plan)
    assert f"Split plan for {new}, a clone of {source}" in out.text
    assert "registered in a rolled-back transaction" in out.text
    assert "dry_run: stopping after the plan; the cluster's metadata was not changed" in out.text
    # The standby is built (the split plan needs it) and a later run reuses it.
    assert citus.value("SELECT pg_is_in_recovery()", node=new) is True
    citus.restore_node(new)


def test_a_clone_that_cannot_catch_up_is_removed_and_the_cluster_is_as_before(citus):
    """Replay paused on the standby and rows written: Citus's catch-up times out before pg_promote();
    the DAG removes the clone again, pg_dist_node is as before, and the log says so."""
    if not citus.can_clone:
        pytest.skip("no way to empty a new node's data directory")
    new, source = citus.new_workers[0], citus.existing_workers[0]
    conf = clone_conf(citus)
    dry = run_dag({**conf, "dry_run": True})  # builds the standby, changes no metadata
    assert str(dry.state) == "success", task_states(dry)
    before = citus.metadata()
    citus.sql("SELECT pg_wal_replay_pause()", node=new)
    citus.sql("INSERT INTO orders (shard_key, n) SELECT k, k FROM generate_series(1000001, 1000300) k")
    wait_for(lambda: citus.value("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()", node=new), 30,
             0.1, "WAL received but not replayed")
    with CaptureFds() as out:
        dag_run = run_dag({**conf, "clone_catchup_timeout_seconds": 1})
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed", states
    assert states["promote_clones"] == "failed" and states["add_clones"] == "success"
    assert citus.metadata() == before
    assert citus.sql("SELECT 1 FROM pg_dist_node WHERE nodename = %s AND nodeport = %s", (new.host, new.port)) == []
    assert f"failed to catch up with primary {source} within 1 seconds" in out.text
    assert "The clone was not promoted and is removed again (citus_remove_clone_node): pg_dist_node is as before" \
        in out.text
    citus.sql("SELECT pg_wal_replay_resume()", node=new)
    citus.restore_node(new)


AFTER_PREFLIGHT = ("add_nodes", "clone_basebackup", "wait_clones", "add_clones", "plan", "stop_if_dry_run",
                   "promote_clones", "start_rebalance", "wait_rebalance", "verify")


def refused_by_preflight(citus: CitusCluster, conf: dict) -> str:
    before = citus.metadata()
    with CaptureFds() as out:
        dag_run = run_dag(conf)
    states = task_states(dag_run)
    assert states["preflight"] == "failed", states
    assert {states[t] for t in AFTER_PREFLIGHT} == {"upstream_failed"}
    assert citus.metadata() == before
    return out.text


def test_a_bad_strategy_is_refused_before_any_clone_is_made(citus):
    """Citus resolves the strategy only after pg_promote() (F_10): preflight refuses it first."""
    if not citus.can_clone:
        pytest.skip("no way to empty a new node's data directory")
    log = refused_by_preflight(citus, clone_conf(citus, rebalance_strategy="no_such_strategy"))
    assert "rebalance_strategy 'no_such_strategy' is not in pg_dist_rebalance_strategy" in log
    new = citus.new_workers[0]
    assert citus.sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot_name(new.host, new.port),),
                     node=citus.existing_workers[0]) == []
    citus.restore_node(citus.new_workers[0])


def test_a_new_node_with_a_server_of_its_own_is_refused(citus):
    """The clone method rebuilds a node from an empty data directory: a running standalone server is refused."""
    new, source = citus.new_workers[0], citus.existing_workers[0]
    log = refused_by_preflight(citus, {"method": "clone", "new_workers": [f"{new}={source}"],
                                       "clone_data_dir": "/nonexistent/{port}", "clone_bin_dir": "/usr/bin", **FAST})
    assert f"new worker {new}: runs a server that is no standby of its source" in log


def test_a_half_promoted_clone_is_explained_with_the_way_out(citus):
    """F_10 left behind (the promotion failed after pg_promote()): preflight names it and the way out."""
    if not citus.can_clone:
        pytest.skip("no way to rebuild a node as a standby")
    new, source = citus.new_workers[0], citus.existing_workers[0]
    citus.clone_node(source, new)
    wait_for(lambda: citus.sql("SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'", node=new), 60, 0.1,
             "the clone streaming")
    nodeid = citus.value("SELECT citus_add_clone_node(%s, %s, %s, %s)", (new.host, new.port, source.host, source.port))
    with pytest.raises(Exception, match="could not find rebalance strategy with name no_such_strategy"):
        citus.sql("SELECT citus_promote_clone_and_rebalance(%s, rebalance_strategy => 'no_such_strategy')", (nodeid,))
    log = refused_by_preflight(citus, {"method": "clone", "new_workers": [f"{new}={source}"],
                                       "clone_data_dir": "/nonexistent/{port}", "clone_bin_dir": "/usr/bin", **FAST})
    assert f"{new} is registered as an inactive clone of {source} but is no standby any more" in log
    assert f"SELECT citus_remove_clone_node('{new.host}', {new.port})" in log
    citus.sql("SELECT citus_remove_clone_node(%s, %s)", (new.host, new.port))
    citus.restore_node(new)
