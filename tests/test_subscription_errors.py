"""Apply errors on real servers: a past one (B restarted under writes) is reported, not a failure, by the
subscription check, validation and the cutover gate; a live one (a unique violation on C, retried every 5 s)
is current until its cause is gone; what waiting cannot fix refuses the gate at once.

The scenarios share one chain and run in file order; the chain is healthy (and C's error counters reset) at
the end, for the modules that come after.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from chain_helpers import (
    NAMES,
    CaptureFds,
    app_can_log_in,
    chain_conf,
    chain_config,
    fingerprint,
    run_dag,
    set_up_chain,
    sql,
    task_states,
    wait_c_caught_up,
    wait_for,
)
from sample_data import WriteLoad

from pgshift.common.report import safe_name
from pgshift.migration.checks.subscription import SubscriptionSyncedCheck

SUBSCRIPTION = {"conn_c": "pgshift_c", "subscription": NAMES["subscription"]}


@pytest.fixture(scope="module")
def chain(clusters, tmp_path_factory):
    set_up_chain(clusters)
    yield tmp_path_factory.mktemp("reports")
    clusters.unfence_a()
    sql(clusters, clusters.c, "ALTER SUBSCRIPTION pgshift_sub ENABLE")
    sql(clusters, clusters.c, "DELETE FROM orders WHERE note = 'conflict made on C'")
    wait_c_caught_up(clusters)
    sql(clusters, clusters.c, "SELECT pg_stat_reset_subscription_stats(oid) FROM pg_subscription")


def error_counts(cl) -> tuple[int, int]:
    return tuple(sql(cl, cl.c, "SELECT apply_error_count, sync_error_count FROM pg_stat_subscription_stats "
                               "WHERE subname = %s", (NAMES["subscription"],))[0])




def gate(**overrides):
    from pgshift.migration.operators.cutover import CutoverGateOperator

    args = dict(mode="native", physical_slot_name=NAMES["physical_slot"], slot_name=NAMES["slot"],
                subscription_name=NAMES["subscription"], app_roles=["app"], wal_lag_max_bytes=16 * 2**20,
                wal_lag_max_seconds=30, cdc_lag_max_bytes=16 * 2**20, gate_readings=2, gate_interval_seconds=0.2,
                gate_window_seconds=60)
    config = chain_config(**{**args, **overrides})
    return CutoverGateOperator(task_id="cutover_gate", config=config)


def test_b_restart_under_writes_is_a_past_error_reported_not_a_failure(clusters, chain):
    cl = clusters
    before = error_counts(cl)[0]
    load = WriteLoad(cl.uri(cl.a, user="app"), rate=30).start()
    try:
        wait_for(lambda: load.committed > 10, what="the application to write")
        cl.stop_node(cl.b)  # pg_ctl stop -m fast, then start: a restart of B as a minor upgrade does it
        cl.start_node(cl.b)
        wait_for(lambda: error_counts(cl)[0] > before, 30, what="C's apply worker to count the lost publisher")
        committed = load.committed
        wait_for(lambda: load.committed > committed + 30, what="writes on A after B's restart")
    finally:
        load.stop()
    wait_c_caught_up(cl)
    count = error_counts(cl)[0]
    assert count >= 1

    started = time.monotonic()
    reading = wait_for(lambda: (r := SubscriptionSyncedCheck(**SUBSCRIPTION).read()).done and r, 60,
                       what="the subscription check to see the apply worker running again")
    took = time.monotonic() - started
    assert reading.done and reading.warning and not reading.fatal, reading
    assert f"apply_error_count={count}" in reading.message, reading.message
    assert "the apply worker has run since" in reading.message and "without a new error (recovered)" \
        in reading.message, reading.message
    assert reading.details["errors"] == "recovered"
    assert reading.details["apply_worker_started"] in reading.message
    assert took >= reading.details["error_window_seconds"]  # a second sample after the window was taken
    print(f"\nsubscription check after B's restart: {reading.message} ({took:.1f} s)")

    # Validation (the same check) passes and says so in its notes.
    conf = chain_conf(cl, action="validate", report_dir=str(chain))
    with CaptureFds() as out:
        dag_run = run_dag(conf)
    assert str(dag_run.state) == "success", (task_states(dag_run), out.text[-3000:])
    report = json.loads((chain / "validate" / f"{safe_name(dag_run.run_id)}.json").read_text())
    assert report["problems"] == []
    assert report["figures"]["apply_error_count"] == count
    assert report["figures"]["subscription_errors"] == "recovered"
    assert any("(recovered" in n for n in report["notes"]), report["notes"]

    # The cutover gate (the same check in each reading) opens.
    result = gate().execute({})
    assert len(result["readings"]) == 2
    assert all(r["subscription"]["ok"] and r["subscription"]["warning"] for r in result["readings"])
    # Nothing was lost across the restart.
    for table in ("public.orders", "public.pgbench_accounts", "public.pgbench_history"):
        assert fingerprint(cl, cl.c, table) == fingerprint(cl, cl.a, table), table


def test_a_live_apply_error_is_current_until_its_cause_is_gone(clusters, chain):
    cl = clusters
    key = sql(cl, cl.a, "SELECT max(id) + 1000000 FROM orders")[0][0]
    sql(cl, cl.c, "INSERT INTO orders (id, customer, amount, note) VALUES (%s, 1, 1, 'conflict made on C')", (key,))
    before = error_counts(cl)[0]
    sql(cl, cl.a, "INSERT INTO orders (id, customer, amount, note) VALUES (%s, 2, 2, 'made on A')", (key,))
    try:
        wait_for(lambda: error_counts(cl)[0] > before, 30, what="the unique violation on C's apply worker")
        reading = SubscriptionSyncedCheck(**SUBSCRIPTION).read()
        assert not reading.done and not reading.fatal, reading
        assert "current" in reading.message and "apply_error_count=" in reading.message, reading.message
        assert reading.details["errors"] in ("current", "unknown")  # unknown: the worker was between retries
        print(f"\nsubscription check during a live apply error: {reading.message}")
        # The gate refuses (not fatal: the error may be fixed during the window), before the fence.
        with pytest.raises(AirflowFailException, match="not 2 readings in bounds in a row within 1 s"):
            gate(gate_window_seconds=1).execute({})
        assert app_can_log_in(cl)
    finally:
        sql(cl, cl.c, "DELETE FROM orders WHERE id = %s AND note = 'conflict made on C'", (key,))
    fixed = time.monotonic()
    reading = wait_for(lambda: (r := SubscriptionSyncedCheck(**SUBSCRIPTION).read()).done and r, 60,
                       what="the subscription to recover once the conflicting row is gone")
    print(f"recovered {time.monotonic() - fixed:.1f} s after the conflicting row went: {reading.message}")
    assert reading.warning and reading.details["errors"] == "recovered", reading
    wait_c_caught_up(cl)
    assert sql(cl, cl.c, "SELECT note FROM orders WHERE id = %s", (key,)) == [("made on A",)]
    sql(cl, cl.a, "DELETE FROM orders WHERE id = %s", (key,))
    wait_c_caught_up(cl)
    assert fingerprint(cl, cl.c, "public.orders") == fingerprint(cl, cl.a, "public.orders")


def test_gate_refuses_at_once_what_waiting_cannot_fix(clusters, chain):
    cl = clusters
    started = time.monotonic()
    with pytest.raises(AirflowFailException) as refused:
        gate(slot_name="no_such_slot").execute({})
    took = time.monotonic() - started
    message = str(refused.value)
    assert "Cutover refused before the fence" in message and "waiting cannot fix" in message, message
    assert "B has no replication slot 'no_such_slot'" in message
    assert "A was not touched" in message
    assert took < 5, f"took {took:.1f} s (window 60 s)"  # no polling, no subscription error window either
    print(f"\ngate without the slot refused in {took:.2f} s")

    sql(cl, cl.c, "ALTER SUBSCRIPTION pgshift_sub DISABLE")
    try:
        started = time.monotonic()
        with pytest.raises(AirflowFailException, match="subscription 'pgshift_sub' on C is disabled"):
            gate().execute({})
        took = time.monotonic() - started
    finally:
        sql(cl, cl.c, "ALTER SUBSCRIPTION pgshift_sub ENABLE")
    assert took < 5, f"took {took:.1f} s (window 60 s)"
    assert app_can_log_in(cl)
    assert sql(cl, cl.a, "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                         "WHERE d.datname = current_database()") == [(0,)]
    wait_c_caught_up(cl)


def test_chain_left_healthy(clusters, chain: Path):
    sql(clusters, clusters.c, "SELECT pg_stat_reset_subscription_stats(oid) FROM pg_subscription")
    reading = wait_for(lambda: (r := SubscriptionSyncedCheck(**SUBSCRIPTION).read()).done and r, 60,
                       what="the subscription to be healthy")
    assert reading.details["errors"] == "none" and not reading.warning, reading


def _sample(pid: int | None = 4242, started: str | None = "2026-01-01T00:00:00.000Z", apply_errors: int = 1,
            sync_errors: int = 0) -> dict:
    return {"apply_error_count": apply_errors, "sync_error_count": sync_errors, "stats_reset": None,
            "apply_worker_pid": pid, "apply_worker_started": started, "retry_interval_ms": 5000}


@pytest.mark.parametrize(("second", "verdict", "words"), [
    (_sample(), "recovered", "the apply worker has run since 2026-01-01T00:00:00.000Z without a new error (recovered)"),
    (_sample(apply_errors=2), "current", "the error counters grew during the 6 s window"),
    (_sample(sync_errors=1), "current", "sync_error_count=0 -> apply_error_count=1, sync_error_count=1"),
    (_sample(pid=4343, started="2026-01-01T00:00:07.000Z"), "current",
     "restarted during the 6 s window (pid 4242 -> 4343)"),
    (_sample(pid=None, started=None), "current", "no apply worker is running"),
    (None, "current", "disappeared from C during the 6 s error window"),
])
def test_two_samples_tell_a_past_error_from_a_current_one(second, verdict, words):
    """The rule of pgshift.migration.checks.subscription on its own: growth, a restart or no worker in the window is
    current."""
    from pgshift.migration.checks.subscription import judge_errors, window_seconds

    assert window_seconds(6.0, _sample()) == 6.0
    assert window_seconds(6.0, {**_sample(), "retry_interval_ms": 30000}) == 31.0  # C's own interval is longer
    got, message = judge_errors("pgshift_sub", _sample(), second, 6.0)
    assert got == verdict and words in message, message
