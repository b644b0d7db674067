#!/usr/bin/env python3
"""Benchmark: the A-lost fault drill on a real deployment, through the REST API (issue 24).

A fresh A/B/C (pgbench scale N, default 10, plus the sample orders) and a real Airflow deployment (api-server,
LocalExecutor scheduler, dag-processor, triggerer as processes: tests/deployment_support.running_deployment). The
chain is set up through REST while the application (role app, sample_data.WriteLoad) writes on A; A is stopped
with ``pg_ctl stop -m immediate`` under those writes; ``action=promote_b`` (no confirmation: A does not answer);
then ``action=cutover`` from B with the application writing on B, then ``action=fallback`` back to B with it
writing on C. Prints the time from A's stop to promote_b's success, what A acknowledged against what B and C hold
(what was lost: rows A acknowledged after B's last received position), both write downtimes, the fence watchdogs'
task states, and per table B against C.
    .venv/bin/python bench/a_lost.py [--scale 10] [--writers 4] [--rate 100] [--b-behind SECONDS]
On a local machine B receives A's WAL within milliseconds, so ``pg_ctl stop -m immediate`` alone loses nothing
acknowledged; ``--b-behind`` stops A's walsender to B first, so that the loss (and its accounting) is real.
Exit status 0 when nothing acknowledged before B's received position was lost, C held every row B had, every
insert acknowledged on B (then C) is on C (then B) and every table is equal; 1 otherwise. The clusters, the
deployment and the temp dirs are removed afterwards (its logs are kept in tests/artifacts/bench-a-lost-logs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from typing import Any

import psycopg2
from airflow_env import HOME, ROOT  # noqa: F401 - before chain_helpers & co: sys.path, Airflow environment
from airflow_local import AirflowApi, AirflowDeployment, failure_reason
from chain_helpers import NAMES, fingerprint, user_tables, wait_c_caught_up
from deployment_support import DAG_ID, report, running_deployment, wait
from pgcluster import LocalClusters, Node, server_user
from sample_data import WriteLoad, sample_sql
from testing_support import wait_for


def lsn(text: str) -> int:
    """A pg_lsn's text as a byte position."""
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Acknowledged(WriteLoad):
    """The application as role app on one server, keeping what it was told was committed: the ids of its orders
    (one per transaction, ``note`` telling the phase) and the server's WAL position before each transaction."""

    def __init__(self, cl: LocalClusters, node: Node, note: str, rate: float) -> None:
        super().__init__(cl.uri(node, user="app"), rate)
        self.note = note
        self.ids: list[int] = []
        self.wal_before: list[int] = []  # [n]: before transaction n, so after commit n - 1

    def write(self, cur: Any, n: int) -> None:
        cur.execute("SELECT pg_current_wal_lsn()::text")
        self.wal_before.append(lsn(cur.fetchone()[0]))
        cur.execute("INSERT INTO orders (customer, amount, note) VALUES (%s, %s, %s) RETURNING id",
                    (n % 97, n % 1000 / 10.0, self.note))
        self.ids.append(cur.fetchone()[0])
        cur.execute(sample_sql("sample_write_account"), (n % 100000 + 1,))
        cur.execute(sample_sql("sample_write_history"), (n % 100000 + 1,))

    @property
    def acknowledged(self) -> list[int]:
        """Orders whose COMMIT returned (a transaction cut off before its answer is not counted)."""
        return self.ids[:self.committed]



class App:
    """``writers`` sessions of the application on one server, each one transaction at a time."""

    def __init__(self, cl: LocalClusters, node: Node, note: str, rate: float, writers: int) -> None:
        self.note = note
        self.sessions = [Acknowledged(cl, node, note, rate) for _ in range(writers)]

    def busy(self) -> App:
        for session in self.sessions:
            session.start()
        wait_for(lambda: all(s.committed > 20 or s.error for s in self.sessions), 60,
                 what=f"the application writing ({self.note})")
        return self

    def stop(self, server_lost: bool = False) -> None:
        """Every session ended; a session's error is raised unless ``server_lost`` (A stopped under it)."""
        for session in self.sessions:
            try:
                session.stop()
            except psycopg2.OperationalError:
                if not server_lost:
                    raise

    @property
    def committed(self) -> int:
        return sum(s.committed for s in self.sessions)

    @property
    def acknowledged(self) -> list[int]:
        return [i for s in self.sessions for i in s.acknowledged]

    @property
    def fenced(self) -> str | None:
        return next((s.fenced for s in self.sessions if s.fenced), None)

    def split_at(self, position: int) -> tuple[list[int], list[int]]:
        """The acknowledged orders committed before ``position`` of the server's WAL for certain, and after it: a
        session's transaction n committed after its wal_before[n] and at or before its wal_before[n + 1]."""
        before, after = [], []
        for s in self.sessions:
            for n, order in enumerate(s.acknowledged):
                if n + 1 < len(s.wal_before) and s.wal_before[n + 1] <= position:
                    before.append(order)
                elif s.wal_before[n] >= position:
                    after.append(order)
        return before, after

    def last_seen(self) -> int:
        return max(p for s in self.sessions for p in s.wal_before)


def ids_on(cl: LocalClusters, node: Node, note: str) -> set[int]:
    return {r[0] for r in cl.sql(node, "SELECT id FROM orders WHERE note = %s", (note,))}


def count_of(cl: LocalClusters, node: Node, ids: list[int]) -> int:
    return int(cl.sql(node, "SELECT count(*) FROM orders WHERE id = ANY(%s)", (ids,))[0][0])


def unequal_tables(cl: LocalClusters) -> list[str]:
    """Tables whose count and content hash differ between B and C (or that one of them lacks)."""
    on_b, on_c = user_tables(cl, cl.b), user_tables(cl, cl.c)
    return sorted(set(on_b) ^ set(on_c)) + [t for t in on_b if t in on_c
                                             and fingerprint(cl, cl.b, t) != fingerprint(cl, cl.c, t)]


def c_caught_up_with_b(cl: LocalClusters, timeout: float = 120) -> None:
    """C confirmed everything the promoted B wrote so far (the slot on B, which streams to C)."""
    target = cl.sql(cl.b, "SELECT pg_current_wal_lsn()::text")[0][0]
    wait_for(lambda: cl.sql(cl.b, "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                                  "WHERE slot_name = %s", (target, NAMES["slot"]))[0][0],
             timeout, what="C confirming B's current WAL")


def xcom(api: AirflowApi, run_id: str, task_id: str) -> dict[str, Any]:
    body = api.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/"
                              "return_value")
    value = body["value"]
    return dict(json.loads(value) if isinstance(value, str) else value)


def succeeded(api: AirflowApi, run_id: str, timeout: float = 900) -> set[str]:
    """Until the run ends; the tasks seen deferred. RuntimeError with the failure if it did not succeed."""
    state, deferred = wait(api, run_id, timeout)
    if state != "success":
        raise RuntimeError(f"run {run_id} {state}: {api.task_states(DAG_ID, run_id)}\n"
                           f"{failure_reason(api, DAG_ID, run_id)}")
    return deferred


class Drill:
    """The drill's steps on one deployment, each printing its figures; ``problems`` collects every failed check."""

    def __init__(self, cl: LocalClusters, dep: AirflowDeployment, api: AirflowApi, args: argparse.Namespace) -> None:
        self.cl, self.dep, self.api = cl, dep, api
        self.rate, self.writers, self.b_behind = float(args.rate), int(args.writers), float(args.b_behind)
        self.problems: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        print(f"  {'ok ' if ok else 'NO '} {what}", flush=True)
        if not ok:
            self.problems.append(what)

    def setup(self) -> None:
        cl, api = self.cl, self.api
        api.set_paused(DAG_ID, False)  # the scheduler's first hourly validation fails at once: there is no chain
        wait_for(lambda: [r for r in api.runs(DAG_ID) if r["run_type"] == "scheduled"
                          and r["state"] in ("success", "failed")], 120, what="the first scheduled run to end")
        conf = {"action": "setup", "mode": "native", "b_data_dir": str(cl.b.data_dir), "b_bin_dir": str(cl.bin_dir),
                "b_port": cl.b.port, "b_os_user": server_user(), "poll_interval_seconds": 1}
        load = App(cl, cl.a, "setup", self.rate, self.writers).busy()
        started = time.monotonic()
        try:
            succeeded(api, api.trigger(DAG_ID, conf), 1800)
        finally:
            load.stop()
        print(f"\n== setup through REST under writes: {time.monotonic() - started:.1f} s "
              f"({load.committed} application transactions on A meanwhile)", flush=True)
        wait_c_caught_up(cl, timeout=300)

    def lose_a(self) -> None:
        cl, api = self.cl, self.api
        print(f"\n== A lost under writes, then action=promote_b (load average before: {load_average()})")
        load = App(cl, cl.a, "on a", self.rate, self.writers).busy()
        time.sleep(3)  # a steady stream, as in production, not the first writes
        if self.b_behind:
            # As a network partition between A and B would: A's walsender to B stops sending, A goes on committing.
            (walsender,) = [r[0] for r in cl.sql(cl.a, "SELECT pid FROM pg_stat_replication")]
            os.kill(walsender, signal.SIGSTOP)
            time.sleep(self.b_behind)
        asked = time.monotonic()
        cl.stop_node(cl.a, mode="immediate")  # with a stopped walsender, the postmaster SIGKILLs it after 5 s
        stopped_at = time.monotonic()
        run_id = api.trigger(DAG_ID, {"action": "promote_b"})
        succeeded(api, run_id)
        promoted = time.monotonic() - stopped_at
        load.stop(server_lost=True)  # A is gone: the application's next statement failed, as in production
        ti = api.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/promote_b")
        promotion = xcom(api, run_id, "promote_b")
        received = lsn(promotion["b_received_lsn"])
        print(f"  pg_ctl stop -m immediate took {stopped_at - asked:.1f} s"
              + (f" (A's walsender to B stopped {self.b_behind:.0f} s before)" if self.b_behind else ""))
        print(f"  A stopped -> promote_b run succeeded: {promoted:.1f} s (promote_b task {ti['duration']:.1f} s); "
              f"A reachable: {promotion['a_reachable']}; B had received A's WAL up to {promotion['b_received_lsn']}")

        acked = load.acknowledged
        on_b = ids_on(cl, cl.b, "on a")
        lost = [i for n, i in enumerate(acked) if i not in on_b]
        before_b, after_b = load.split_at(received)
        seen = load.last_seen()
        print(f"  A acknowledged {len(acked)} orders ({load.committed} transactions); on B {len(on_b)} "
              f"({len(on_b - set(acked))} committed on A but not acknowledged before A stopped); lost {len(lost)}")
        print(f"  of the acknowledged: {len(before_b)} committed before B's received position, {len(after_b)} "
              f"after it, {len(acked) - len(before_b) - len(after_b)} across it; A's WAL the application last saw "
              f"was {max(0, seen - received)} bytes past B's received "
              f"position (lost_bytes reported: {promotion['lost_bytes']})")
        self.check(not [i for i in before_b if i not in on_b],
                   "every order A acknowledged before B's received position is on B")
        self.check(not set(after_b) & on_b, "no order A acknowledged after B's received position is on B (the "
                   "position promote_b reports is where the loss begins)")
        c_caught_up_with_b(cl)
        self.check(on_b <= ids_on(cl, cl.c, "on a"), "C has every order B holds")
        unequal = unequal_tables(cl)
        self.check(not unequal, f"C has every row B holds: every table equal B vs C ({unequal or 'all equal'})")

    def switch(self, action: str, node: Node, other: Node, watchdog: str) -> None:
        cl, api = self.cl, self.api
        names = {cl.b.name: "B", cl.c.name: "C"}
        print(f"\n== action={action}, the application writing on {names[node.name]} "
              f"(load average before: {load_average()})")
        load = App(cl, node, f"on {names[node.name].lower()}", self.rate, self.writers).busy()
        time.sleep(3)
        try:
            started = time.monotonic()
            run_id = api.trigger(DAG_ID, {"action": action, "dry_run": False, "app_roles": ["app"]})
            deferred = succeeded(api, run_id)
            took = time.monotonic() - started
        finally:
            load.stop()
        got = report(self.dep, action, run_id)
        states = api.task_states(DAG_ID, run_id)
        method = got.get("verify", {}).get("method")
        print(f"  run: {took:.1f} s from the trigger to its success; write downtime "
              f"{got['write_downtime_seconds']:.3f} s; status {got['status']}"
              + (f"; verify {method}" if action == "cutover" else "")
              + f"; the application ({load.committed} transactions): {load.fenced or 'not fenced'}")
        if action == "cutover":
            self.check(method == "full", "verify method full (a promoted B has no replay of A to freeze)")
        self.check(states.get(watchdog) == "success" and watchdog in deferred,
                   f"{watchdog} ran beside it in the triggerer (seen deferred, ended {states.get(watchdog)})")
        acked = load.acknowledged
        self.check(count_of(cl, other, acked) == len(acked),
                   f"every insert {names[node.name]} acknowledged ({len(acked)}) is on {names[other.name]}")
        unequal = unequal_tables(cl)
        self.check(not unequal, f"every table equal B vs C ({unequal or f'{len(user_tables(cl, cl.b))} tables'})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100.0, help="application transactions per second per session")
    parser.add_argument("--writers", type=int, default=4, help="application sessions, each one transaction at a time")
    parser.add_argument("--b-behind", type=float, default=0.0, metavar="SECONDS",
                        help="stop A's walsender to B (SIGSTOP) this long before A's stop, as a partition between A "
                             "and B would: B is behind and A's acknowledged writes of that time are lost")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {load_average()}; pgbench scale {args.scale} + 10000 orders",
          flush=True)
    started = time.monotonic()
    try:
        with running_deployment("bench-a-lost", scale=args.scale, orders=10000) as (cl, dep, api):
            print(f"deployment up in {time.monotonic() - started:.1f} s (clusters on {cl.a.port}-{cl.c.port})",
                  flush=True)
            drill = Drill(cl, dep, api, args)
            drill.setup()
            drill.lose_a()
            drill.switch("cutover", cl.b, cl.c, "fence_watchdog")
            drill.switch("fallback", cl.c, cl.b, "fallback_watchdog")
    except RuntimeError as exc:
        print(f"FAILED: {exc}")
        return 1
    finally:
        shutil.rmtree(HOME, ignore_errors=True)
    print(f"\nresult ({time.monotonic() - started:.0f} s, load average now {load_average()}): "
          + ("nothing lost but what A acknowledged after B's received position; B = C in every table"
             if not drill.problems else "FAILED: " + "; ".join(drill.problems)))
    return 0 if not drill.problems else 1


if __name__ == "__main__":
    sys.exit(main())
