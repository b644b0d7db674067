"""Bytes planned and moved, rate and ETA of a rebalance job: computed from what real Citus reported (A_13,
A_16, A_17), and the progress line and figures the sensor's reading carries. No server."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from citus_helpers import transcript

from pgshift.citus.progress import RebalanceProgress, compute, duration_pretty, progress_line, size_pretty
from pgshift.citus.status import evaluate

T0 = datetime.fromisoformat("2026-11-23T20:45:01.813655+00:00")


def a17_tasks() -> tuple[list[dict], dict, datetime]:
    """The rows citus_rebalance_progress.sql returns for A_17's sample (one move copying, nine waiting):
    each task's shard group size from A_13's citus_shards (one table: the shard itself), the running
    move's bytes copied from A_17's get_rebalance_progress()."""
    status, progress, tasks = (c for c in transcript("A_17_rebalance_samples_while_running.json")["calls"][:3])
    sizes = {r["shardid"]: r["shard_size"]
             for r in transcript("A_13_shards_per_node_before_rebalance.json")["calls"][1]["rows"]}
    copying = {r["shardid"]: min(r["target_shard_size"], r["source_shard_size"]) for r in progress["rows"]}
    rows = []
    for task in tasks["rows"]:
        shard = int(task["command"].split("(")[1].split(",")[0])
        moved = {"done": sizes[shard], "running": copying.get(shard, 0)}.get(task["status"], 0)
        rows.append({"task_id": task["task_id"], "status": task["status"], "shardid": shard,
                     "planned_bytes": sizes[shard], "moved_bytes": moved})
    return rows, status["rows"][0], datetime.fromisoformat(progress["executed_at"])


def test_a_move_under_way_on_real_citus_gives_bytes_rate_and_eta():
    rows, status, read_at = a17_tasks()
    started = datetime.fromisoformat(status["started_at"])
    p = compute(rows, started, read_at)
    planned = sum(r["planned_bytes"] for r in rows)
    assert (p.moves_done, p.moves_total, p.bytes_planned, p.bytes_moved) == (0, 10, planned, 1400832)
    assert p.elapsed_seconds == pytest.approx(0.517045)
    assert p.rate_bytes_per_s == pytest.approx(1400832 / 0.517045)
    assert p.eta_seconds == pytest.approx((planned - 1400832) / (1400832 / 0.517045))
    assert planned == 27402240  # the ten shards A_12 plans to move, 26.1 MB
    assert progress_line(1, "running", p) == \
        "rebalance job 1: 0/10 moves, 1.3 MB of 26.1 MB moved (5%), 2.6 MB/s, ETA 10 s"


def test_the_line_of_the_issue():
    mb = 1024 * 1024
    rows = [{"status": "done", "planned_bytes": 12 * mb, "moved_bytes": 12 * mb}] * 3 + \
           [{"status": "running", "planned_bytes": 12 * mb, "moved_bytes": int(5.2 * mb)}] + \
           [{"status": "blocked", "planned_bytes": 12 * mb, "moved_bytes": 0}] * 4
    moved = 36 * mb + int(5.2 * mb)
    p = compute(rows, T0, T0 + timedelta(seconds=moved / (2.1 * mb)))
    assert progress_line(7, "running", p) == \
        "rebalance job 7: 3/8 moves, 41.2 MB of 96.0 MB moved (43%), 2.1 MB/s, ETA 26 s"
    assert p.as_dict() == {"moves_done": 3, "moves_total": 8, "bytes_planned": 96 * mb, "bytes_moved": moved,
                           "percent": pytest.approx(42.9, abs=0.1), "elapsed_seconds": pytest.approx(19.62, abs=0.01),
                           "rate_bytes_per_s": pytest.approx(2.1 * mb), "eta_seconds": pytest.approx(26.1, abs=0.1)}


def test_scheduled_job_has_no_rate_and_no_eta():
    """A_16's first poll: scheduled, started_at null; nothing is moved yet."""
    rows, _, read_at = a17_tasks()
    rows = [{**r, "status": "runnable" if r["task_id"] == 1 else "blocked", "moved_bytes": 0} for r in rows]
    p = compute(rows, None, read_at)
    assert (p.bytes_moved, p.elapsed_seconds, p.rate_bytes_per_s, p.eta_seconds) == (0, None, None, None)
    assert progress_line(1, "scheduled", p) == \
        "rebalance job 1: 0/10 moves, 0 bytes of 26.1 MB moved (0%), rate unknown, ETA unknown"
    # Started, but the first move has not copied a byte yet ("Setting Up", target 0 bytes in A_16).
    p = compute(rows, T0, T0 + timedelta(seconds=1))
    assert (p.rate_bytes_per_s, p.eta_seconds) == (None, None)
    assert progress_line(1, "running", p).endswith("(0%), rate unknown, ETA unknown")


def test_without_sizes_there_is_no_eta():
    """A shard Citus gives no size for (citus_shards has no row), or empty shards: bytes say nothing."""
    rows = [{"status": "done", "planned_bytes": 100, "moved_bytes": 100},
            {"status": "running", "planned_bytes": None, "moved_bytes": 0}]
    p = compute(rows, T0, T0 + timedelta(seconds=5))
    assert (p.bytes_planned, p.bytes_moved, p.percent, p.rate_bytes_per_s, p.eta_seconds) == (None,) * 5
    assert progress_line(3, "running", p) == "rebalance job 3: 1/2 moves, sizes unknown, ETA unknown"
    empty = compute([{"status": "done", "planned_bytes": 0, "moved_bytes": 0}], T0, T0 + timedelta(seconds=1))
    assert progress_line(3, "running", empty) == "rebalance job 3: 1/1 moves, sizes unknown, ETA unknown"
    assert progress_line(3, "running", compute([], None, None)) == \
        "rebalance job 3: 0/0 moves, sizes unknown, ETA unknown"


def test_a_finished_job_reports_its_average_rate_and_no_eta():
    rows = [{"status": "done", "planned_bytes": 3 * 1024 * 1024, "moved_bytes": 3 * 1024 * 1024}] * 10
    p = compute(rows, T0, T0 + timedelta(seconds=58.5))
    assert p.eta_seconds == 0 and p.percent == 100
    assert progress_line(1, "finished", p) == \
        "rebalance job 1: 10/10 moves, 30.0 MB of 30.0 MB moved (100%), 525.1 kB/s, finished in 58 s"


def test_moved_never_exceeds_planned_and_percent_reaches_100_only_at_the_end():
    rows = [{"status": "done", "planned_bytes": 1000, "moved_bytes": 1000},
            {"status": "running", "planned_bytes": 100_000, "moved_bytes": 99_900}]
    p = compute(rows, T0, T0 + timedelta(seconds=10))
    assert progress_line(1, "running", p).startswith("rebalance job 1: 1/2 moves, 98.5 kB of 98.6 kB moved (99%)")
    over = compute([{"status": "running", "planned_bytes": 10, "moved_bytes": 50}], T0, T0 + timedelta(seconds=1))
    assert over.bytes_moved == 10 and over.eta_seconds == 0


@pytest.mark.parametrize(("n", "text"), [(0, "0 bytes"), (1023, "1023 bytes"), (1024, "1.0 kB"),
                                         (2744320, "2.6 MB"), (87162880, "83.1 MB"), (344195072, "328.2 MB"),
                                         (5 * 1024**4, "5.0 TB")])
def test_sizes_are_in_pg_size_pretty_units(n, text):
    assert size_pretty(n) == text


@pytest.mark.parametrize(("s", "text"), [(0, "0 s"), (26.4, "26 s"), (250, "4 min 10 s"), (7500, "2 h 5 min")])
def test_durations(s, text):
    assert duration_pretty(s) == text


def test_the_readings_message_and_details_carry_the_progress():
    status = transcript("A_16_rebalance_status_poll.json")["poll"]["distinct_outputs"]
    running = {**status[3]["rows"][0], "started_at": T0, "finished_at": None}
    p = compute([{"status": "done", "planned_bytes": 2744320, "moved_bytes": 2744320},
                 {"status": "running", "planned_bytes": 2744320, "moved_bytes": 1372160}],
                T0, T0 + timedelta(seconds=2))
    result = evaluate(running, 1, p)
    assert not result.done and not result.fatal
    assert result.message.startswith(
        "rebalance job 1: 1/2 moves, 3.9 MB of 5.2 MB moved (75%), 2.0 MB/s, ETA 1 s; Rebalance job 1 is running")
    assert result.details["progress"] == p.as_dict()
    assert result.details["state"] == "running"

    finished = {**status[-1]["rows"][0], "started_at": T0, "finished_at": T0 + timedelta(seconds=58.5)}
    done = evaluate(finished, 1, compute([{"status": "done", "planned_bytes": 10, "moved_bytes": 10}],
                                         T0, T0 + timedelta(seconds=58.5)))
    assert done.done and done.message.endswith("; rebalance job 1: 1/1 moves, 10 bytes of 10 bytes moved "
                                               "(100%), 0 bytes/s, finished in 58 s")
    assert done.details["progress"]["bytes_moved"] == 10

    unread = evaluate(running, 1, "could not read the shard sizes: cannot get the size because of a connection error")
    assert unread.message.startswith("rebalance job 1: progress unknown, ETA unknown (could not read the shard "
                                     "sizes: cannot get the size because of a connection error); Rebalance job 1")
    assert unread.details["progress"] is None


def test_without_progress_the_reading_is_as_before():
    row = transcript("A_16_rebalance_status_poll.json")["poll"]["distinct_outputs"][0]["rows"][0]
    result = evaluate(row, 1)
    assert "progress" not in result.details and "ETA" not in result.message
    assert isinstance(RebalanceProgress(0, 0, None, None, None, None, None, None).as_dict(), dict)


class _Hook:
    """A coordinator whose status answers (A_16, running) but whose shard sizes cannot be read (B_parallel_02)."""

    def __init__(self, *args, **kwargs) -> None:
        self.row = {**transcript("A_16_rebalance_status_poll.json")["poll"]["distinct_outputs"][3]["rows"][0],
                    "started_at": T0, "finished_at": None}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def job_status(self, job_id):
        return self.row

    def rebalance_progress(self, job_id):
        import psycopg2

        raise psycopg2.OperationalError("cannot get the size because of a connection error")


def test_unreadable_sizes_do_not_hide_the_verdict(monkeypatch):
    import pgshift.citus.hook
    from pgshift.citus.status import RebalanceCheck

    monkeypatch.setattr(pgshift.citus.hook, "CitusHook", _Hook)
    result = RebalanceCheck(conn_id="citus_coordinator", job_id=1).take_reading()
    assert not result.done and not result.fatal and result.details["state"] == "running"
    assert result.message.startswith("rebalance job 1: progress unknown, ETA unknown (could not read the shard "
                                     "sizes: cannot get the size because of a connection error); Rebalance job 1 is "
                                     "running: 1/10 tasks done")
    assert result.details["progress"] is None
