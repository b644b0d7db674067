"""The sensor's reading of citus_rebalance_status(), fed with the rows recorded from real Citus."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from citus_helpers import transcript

from pgshift.citus.status import evaluate
from pgshift.common.checks.result import CheckResult
from pgshift.common.triggers.poll import PgShiftPollTrigger


def status_rows(name: str) -> list[dict]:
    """Every distinct citus_rebalance_status() row of a poll file, as psycopg2 would return it."""
    rows = []
    for output in transcript(name)["poll"]["distinct_outputs"]:
        for row in output.get("rows", []) if output.get("ok") else []:
            rows.append({**row, **{k: datetime.fromisoformat(row[k]) if row[k] else None
                                   for k in ("started_at", "finished_at")}})
    return rows


def test_a_clean_rebalance_is_waited_for_until_finished():
    rows = status_rows("A_16_rebalance_status_poll.json")
    results = [evaluate(r, 1) for r in rows]
    assert [r.done for r in results] == [False] * (len(rows) - 1) + [True]
    assert not any(r.fatal for r in results)
    assert results[-1].message == "Rebalance job 1 finished in 58.5 s: 10/10 tasks done (10 done)"
    assert results[0].message == "Rebalance job 1 is scheduled: 0/10 tasks done (1 runnable, 9 blocked)"
    # A move under way: its shard, source -> target, phase, sizes and LSN lag are in the log line.
    assert ("task 1 (shard 102011): 127.0.0.1:9702 -> 127.0.0.1:9703, Catching Up, 2680 kB of 2680 kB copied, "
            "LSN lag 0 bytes") in results[2].message
    assert results[-1].details["task_state_counts"] == {"done": 10}


def test_retries_are_reported_while_waiting():
    rows = status_rows("B_default_02_rebalance_status_poll_failure.json")
    retrying = evaluate(rows[2], 1)
    assert not retrying.done and not retrying.fatal
    assert ("task 1 (shard 102011) is retried (attempt 2) after: ERROR: failure on connection marked as "
            "essential: 127.0.0.1:9703") in retrying.message


def test_a_failed_job_fails_with_the_tasks_message():
    final = evaluate(status_rows("B_default_02_rebalance_status_poll_failure.json")[-1], 1)
    assert final.fatal and not final.done
    assert final.message.startswith(
        "Citus rebalance job 1 failed: task 1 (shard 102011) failed after 33 retries: ERROR: Could not fetch disk "
        "stats for node: 127.0.0.1-9703. 0/10 tasks done (1 error, 9 unscheduled).")


def test_failing_is_reported_and_waited_through():
    rows = status_rows("B_staggered_02_rebalance_status_poll_failure.json")
    failing = [evaluate(r, 1) for r in rows if r["state"] == "failing"]
    assert failing and not any(r.done or r.fatal for r in failing)
    assert all("Citus lets the other tasks finish" in r.message for r in failing)
    assert "task 2 (shard 102008) failed after 33 retries: ERROR: Could not fetch disk stats" in failing[0].message
    assert evaluate(rows[-1], 1).fatal


def test_a_cancelled_job_fails_the_wait():
    rows = status_rows("B_default_04_C_stop_mid_run.json")
    result = evaluate(rows[-1], 2)
    assert result.fatal
    assert "Citus rebalance job 2 cancelled: stopped by citus_rebalance_stop() or citus_job_cancel()" in result.message


def test_a_job_that_does_not_exist_is_fatal():
    assert evaluate(None, 7).fatal


def _trigger_events(monkeypatch, readings: list[CheckResult], timeout: float | None = None) -> list[dict]:
    feed = iter(readings)
    monkeypatch.setattr("pgshift.citus.status.read_rebalance", lambda **kw: next(feed))
    trigger = PgShiftPollTrigger("citus_rebalance", {"conn_id": "citus_coordinator", "job_id": 1},
                                 poll_interval=0.01, timeout=timeout, timeout_hint="The job keeps running in Citus.")

    async def collect():
        return [e.payload async for e in trigger.run()]

    return asyncio.run(collect())


@pytest.mark.parametrize(("last", "status"), [
    (CheckResult(True, "finished"), "success"),
    (CheckResult(False, "failed: boom", fatal=True), "failure"),
])
def test_trigger_fires_on_a_terminal_state(monkeypatch, last, status):
    events = _trigger_events(monkeypatch, [CheckResult(False, "running"), CheckResult(False, "running"), last])
    assert [e["status"] for e in events] == [status]
    assert events[0]["message"] == last.message


def test_trigger_times_out_with_the_last_reading(monkeypatch):
    events = _trigger_events(monkeypatch, [CheckResult(False, "still running")] * 1000, timeout=0.0)
    assert events[0]["status"] == "timeout"
    assert "last reading: still running. The job keeps running in Citus." in events[0]["message"]


def test_trigger_serializes_to_an_importable_path():
    path, kwargs = PgShiftPollTrigger("citus_rebalance", {"conn_id": "c", "job_id": 3}, 2, timeout=60,
                                      started_at=1.0, timeout_hint="h").serialize()
    assert path == "pgshift.common.triggers.poll.PgShiftPollTrigger"
    assert PgShiftPollTrigger(**kwargs).serialize() == (path, kwargs)
