"""The fence's lease on a real A: a fence whose cutover died is lifted in seconds, a live one never is, and a role
that is not pgshift's holding the lease's key neither blocks a switchover nor keeps a dead one's fence.

A separate process stands in for the cutover task: it takes the lease, fences A as the cutover does and
then waits; the test SIGKILLs it (a lost worker, an OOM kill: no ``on_kill`` runs) and watches the
watchdog's trigger lift the fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from chain_helpers import app_can_log_in
from pgcluster import DATABASE, LocalClusters
from testing_support import wait_for

ROOT = Path(__file__).resolve().parents[1]
INTRUDER_PASSWORD = "lease-intruder"  # a throwaway role of one test




def db_settings(cl: LocalClusters) -> list[str]:
    rows = cl.sql(cl.a, "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                        "WHERE d.datname = %s AND s.setrole = 0", (DATABASE,))
    return [item for (config,) in rows for item in config]


class FakeCutover:
    """A process that takes the lease and fences A like CutoverOperator (optionally up to ``committed``)."""

    def __init__(self, run_id: str, commit: bool = False) -> None:
        code = textwrap.dedent(f"""
            import sys, time
            from pgshift.migration.switchover.fence import apply_fence, plan_fence
            from pgshift.migration.hooks.primary import PrimaryHook
            from pgshift.migration.switchover.lease import commit_point, read_marker, take_lease
            a = PrimaryHook("pgshift_a")
            assert take_lease(a)
            record = plan_fence(a, ["app"], {run_id!r})
            apply_fence(a, record, ["app"])
            if {commit!r}:
                commit_point(a, record.database, read_marker(a))
            print("fenced", flush=True)
            time.sleep(600)
        """)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                     env=os.environ.copy())
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        assert line.strip() == "fenced", f"the stand-in cutover did not fence A (exit {self.proc.poll()})"

    def kill(self) -> float:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        return time.monotonic()


@pytest.fixture
def a_unfenced_after(clusters: LocalClusters) -> Iterator[LocalClusters]:
    yield clusters
    clusters.unfence_a()


def test_a_live_cutover_is_never_unfenced(a_unfenced_after: LocalClusters) -> None:
    from pgshift.migration.switchover.watchdog import ALIVE, UNFENCED, look

    cl = a_unfenced_after
    cutover = FakeCutover("manual__lease_live")
    try:
        for _ in range(3):
            assert look("pgshift_a", "manual__lease_live")[0] == ALIVE
        assert not app_can_log_in(cl)
        cutover.kill()
        verdict, facts = look("pgshift_a", "manual__lease_live")
        assert verdict == UNFENCED and facts["roles"] == ["app"]
    finally:
        cutover.proc.kill()
    assert app_can_log_in(cl)
    assert db_settings(cl) == []  # exactly as before the fence: no read-only default, no marker


def test_the_watchdog_lifts_a_dead_cutovers_fence_within_seconds(a_unfenced_after: LocalClusters) -> None:
    from pgshift.migration.triggers.fence_watchdog import FenceWatchdogTrigger

    cl = a_unfenced_after
    run_id = "manual__lease_killed"

    async def watch() -> dict:
        trigger = FenceWatchdogTrigger("pgshift_a", run_id, poll_interval=0.5)
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    cutover = FakeCutover(run_id)
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(watch())
        loop.run_until_complete(asyncio.sleep(1.5))  # the trigger sees the cutover alive first
        assert not task.done() and not app_can_log_in(cl)
        killed = cutover.kill()
        event = loop.run_until_complete(asyncio.wait_for(task, 30))
        writable = wait_for(lambda: app_can_log_in(cl) and time.monotonic(), timeout=10, interval=0.05,
                            what="A writable again")
    finally:
        loop.close()
        cutover.proc.kill()
    print(f"A writable {writable - killed:.2f} s after the cutover's process was killed")
    assert event["status"] == "unfenced" and event["unfenced_at"] >= event["fenced_at"]
    assert writable - killed < 10
    assert db_settings(cl) == []


def test_a_finished_cutover_ends_the_watchdog_in_the_triggerer(a_unfenced_after: LocalClusters) -> None:
    """A cutover that reached ready (or never fenced) leaves the watchdog nothing to do: its trigger ends the task
    itself, with no resume on a worker (a resume moments after the deferral is put up for retry by Airflow 3.3.2's
    scheduler under load: bench/a_lost.py on the deployment), and A stays fenced."""
    from airflow.triggers.base import TaskSuccessEvent

    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.switchover.fence import apply_fence, plan_fence
    from pgshift.migration.switchover.lease import READY, read_marker, release_lease, take_lease, write_marker
    from pgshift.migration.triggers.fence_watchdog import FenceWatchdogTrigger

    cl = a_unfenced_after

    def first_event(run_id: str, start_timeout: float) -> object:
        async def watch() -> object:
            async for event in FenceWatchdogTrigger("pgshift_a", run_id, 0.2, start_timeout).run():
                return event
            raise AssertionError("the trigger ended without an event")
        return asyncio.run(asyncio.wait_for(watch(), 30))

    assert isinstance(first_event("manual__lease_never_came", start_timeout=0), TaskSuccessEvent)
    with PrimaryHook("pgshift_a") as a:
        assert take_lease(a)
        record = plan_fence(a, ["app"], "manual__lease_ready")
        apply_fence(a, record, ["app"])
        marker = read_marker(a)
        assert marker is not None
        write_marker(a, record.database, marker, READY, "cutover")
        release_lease(a)
    assert isinstance(first_event("manual__lease_ready", start_timeout=60), TaskSuccessEvent)
    assert not app_can_log_in(cl)  # ready: A stays fenced on purpose


def test_a_cutover_that_died_after_its_point_of_no_return_stays_fenced(a_unfenced_after: LocalClusters) -> None:
    from pgshift.migration.switchover.watchdog import DIED_COMMITTED, look

    cl = a_unfenced_after
    cutover = FakeCutover("manual__lease_committed", commit=True)
    cutover.kill()
    verdict, facts = look("pgshift_a", "manual__lease_committed")
    assert verdict == DIED_COMMITTED and facts["state"] == "committed"
    assert not app_can_log_in(cl)
    assert "default_transaction_read_only=on" in db_settings(cl)


def test_a_session_that_lost_the_lease_cannot_commit(a_unfenced_after: LocalClusters) -> None:
    """The cutover's connection to A broke (and PrimaryHook reconnected): the commit point refuses."""
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.switchover.fence import apply_fence, lift_fence, plan_fence
    from pgshift.migration.switchover.lease import LeaseLost, commit_point, read_marker, take_lease

    cl = a_unfenced_after
    with PrimaryHook("pgshift_a") as a:
        assert take_lease(a)
        record = plan_fence(a, ["app"], "manual__lease_lost")
        apply_fence(a, record, ["app"])
        cl.sql(cl.a, "SELECT pg_terminate_backend(%s)", (a.live.get_backend_pid(),))
        with pytest.raises(psycopg2.OperationalError):
            a.scalar("current_setting", ("server_version_num",))
        with pytest.raises(LeaseLost, match="lost its lease"):
            commit_point(a, record.database, read_marker(a))
        assert read_marker(a).state == "fenced"
        lift_fence(a, record)
    assert app_can_log_in(cl)


def test_a_second_cutover_cannot_take_a_held_lease(a_unfenced_after: LocalClusters) -> None:
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.switchover.lease import lease_holder, release_lease, take_lease

    with PrimaryHook("pgshift_a") as first, PrimaryHook("pgshift_a") as second:
        assert take_lease(first)
        assert not take_lease(second)
        assert lease_holder(second)["pid"] == first.live.get_backend_pid()
        release_lease(first)
        assert take_lease(second)


class Impostor:
    """A session of a role that is not pgshift's holding the lease's key on A: at once (``pg_try_advisory_lock``) or,
    with ``when_free``, queued for it (``pg_advisory_lock``), so that it gets the key the moment its holder dies."""

    def __init__(self, cl: LocalClusters, role: str, when_free: bool = False) -> None:
        from pgshift.migration.switchover.lease import LEASE_KEY

        self.conn = psycopg2.connect(cl.uri(cl.a, user="app")) if role == "app" else \
            psycopg2.connect(host="127.0.0.1", port=cl.a.port, dbname=DATABASE, user=role, password=INTRUDER_PASSWORD)
        self.conn.autocommit = True
        self.pid = self.conn.get_backend_pid()
        self.error: str | None = None
        call = "pg_advisory_lock" if when_free else "pg_try_advisory_lock"

        def hold() -> None:
            try:
                with self.conn.cursor() as cur:
                    cur.execute(f"SELECT {call}(%s, %s)", LEASE_KEY)
            except psycopg2.Error as exc:  # ended by pgshift
                self.error = str(exc)

        self.thread = threading.Thread(target=hold, daemon=True)
        self.thread.start()
        if not when_free:
            self.thread.join(10)

    def holds(self, cl: LocalClusters) -> bool:
        from pgshift.migration.switchover.lease import LEASE_KEY

        return bool(cl.sql(cl.a, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = %s AND "
                                 "classid = %s AND objid = %s", (self.pid, *LEASE_KEY)))

    def alive(self, cl: LocalClusters) -> bool:
        return bool(cl.sql(cl.a, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (self.pid,)))

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self.conn.close()


@pytest.fixture
def intruder(a_unfenced_after: LocalClusters) -> Iterator[str]:
    """A role that may log in to A and is never fenced (not one of app_roles)."""
    cl = a_unfenced_after
    cl.sql(cl.a, "DROP ROLE IF EXISTS lease_intruder")
    cl.sql(cl.a, "CREATE ROLE lease_intruder LOGIN PASSWORD %s", (INTRUDER_PASSWORD,))
    yield "lease_intruder"
    cl.sql(cl.a, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'lease_intruder'")
    wait_for(lambda: not cl.sql(cl.a, "SELECT 1 FROM pg_stat_activity WHERE usename = 'lease_intruder'"), 10,
             what="the intruder's sessions to end")
    cl.sql(cl.a, "DROP ROLE lease_intruder")


def test_role_app_holding_the_key_cannot_block_a_switchover(a_unfenced_after: LocalClusters) -> None:
    """Any role may call pg_try_advisory_lock with the lease's keys; only pgshift's role holds the lease."""
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.switchover.lease import lease_alive, lease_holder, take_lease

    cl = a_unfenced_after
    app = Impostor(cl, "app")
    try:
        assert app.holds(cl)
        with PrimaryHook("pgshift_a") as a:
            holder = lease_holder(a)
            assert holder and holder["usename"] == "app" and not holder["ours"]
            assert lease_alive(a) is None  # an impostor's lock is no switchover alive
            assert take_lease(a)
            assert lease_alive(a)["pid"] == a.live.get_backend_pid()
        wait_for(lambda: not app.alive(cl), 10, what="the impostor's session to end")
        with pytest.raises(psycopg2.Error):
            with app.conn.cursor() as cur:
                cur.execute("SELECT 1")
    finally:
        app.close()


def test_an_impostor_cannot_keep_a_dead_cutovers_fence(a_unfenced_after: LocalClusters, intruder: str) -> None:
    """A role that is not fenced queues for the key while the cutover lives and gets it as the cutover dies: the
    watchdog still sees the cutover alive until then, and lifts the dead one's fence after."""
    from pgshift.migration.switchover.watchdog import ALIVE, UNFENCED, look

    cl = a_unfenced_after
    cutover = FakeCutover("manual__lease_impostor")
    impostor = Impostor(cl, intruder, when_free=True)
    try:
        assert look("pgshift_a", "manual__lease_impostor")[0] == ALIVE
        assert not impostor.holds(cl) and not app_can_log_in(cl)
        killed = cutover.kill()
        wait_for(lambda: impostor.holds(cl), 10, interval=0.05, what="the impostor to get the key")
        verdict, facts = look("pgshift_a", "manual__lease_impostor")
        writable = time.monotonic()
        assert verdict == UNFENCED and facts["roles"] == ["app"]
    finally:
        cutover.proc.kill()
        impostor.close()
    assert app_can_log_in(cl) and writable - killed < 10
    assert db_settings(cl) == []
    wait_for(lambda: not impostor.alive(cl), 10, what="the impostor's session to end")
