#!/usr/bin/env python3
"""Benchmark: write downtime of the DAG's cutover with verify=delta against verify=full (and, with --hand, the
same steps done by hand), under application writes.

One run starts its own A/B/C (pgbench scale N, default 10) and, per phase, builds the chain with the DAG and cuts
over while role app writes on A (pgbench -c 2 plus an orders inserter), then resets the chain for the next phase:
``delta`` (the default: every row verified B against C at frozen points before the fence, only the rows written
since inside it), ``full`` (every table hashed on A and C inside the fence), ``hand`` (one SQL session per server:
fence, terminate, final LSN, drain, count+hash A then C, setval, DROP SUBSCRIPTION). Prints each timeline, the
write downtime and its verify share, the rows verified before and inside the fence, the ratio full / delta, and
the writes committed on A against the rows on C. In the delta phase a third writer is the application as it
moves: role app with a list of servers (A, then C), which reconnects by itself once C lets it in; its last
commit on A -> first commit on C is the application-visible write downtime.
    .venv/bin/python bench/cutover.py [--scale 10] [--hand] [--c-profile aurora]
With ``--databases N`` (N > 1) it measures one cutover of N databases beside one database of the same total size
instead (:mod:`cutover_databases`).
Exit status 0 when every cutover finished with no row lost and every table equal, whether or not a target was
met; 1 otherwise. The clusters and temp dirs are removed afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from airflow_env import HOME, ROOT  # noqa: F401 - before chain_helpers & co: sys.path, Airflow environment
from chain_helpers import (
    NAMES,
    chain_conf,
    fingerprint,
    run_dag,
    sql,
    task_states,
    user_tables,
    wait_c_caught_up,
)
from pgcluster import C_PROFILES, DATABASE, LocalClusters, Node
from psycopg2 import sql as pgsql
from sample_data import MovingApp, load_sample
from testing_support import free_port_block, log_excerpt, state_dir, wait_for

from pgshift.common.report import safe_name

TARGET_RATIO = 1.25  # DAG downtime at most this many times the hand downtime
TARGET_DELTA_SECONDS = 1.0  # verify=delta's write downtime, at scale 10 and at scale 100 (issue 12)
TARGET_SCALE = 10
WARMUP_SECONDS = 5.0
NUDGE_EVERY = 0.1  # as pgshift.migration.switchover.drain.wait_confirmed: same primitive on both sides
POLL_EVERY = 0.02
# Same output settings as the DAG's fingerprint session, so equal values hash equally on A and C.
FINGERPRINT_SESSION = ("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
                       "SET extra_float_digits = 1; SET bytea_output = 'hex'; SET statement_timeout = 0")
FAILED = (Exception, pytest.fail.Exception)  # wait_for's timeout is a BaseException


class RunFailed(Exception):
    """A DAG run or a hand step did not finish: the phase has no figure."""


@dataclass
class Cutover:
    downtime: float  # fence committed -> C ready
    timeline: dict[str, float]  # step -> epoch seconds, "fenced" first
    notes: list[str] = field(default_factory=list)
    app_downtime: float | None = None  # the moving application's last commit on A -> its first commit on C
    verify_seconds: float | None = None  # of the downtime: the verify step inside the fence
    rows_before: int | None = None  # rows verified before the fence (verify=delta)
    rows_inside: int | None = None  # rows verified inside the fence
    pre_verify_seconds: float | None = None  # task start -> pre-verification done (A writable, no downtime)


@dataclass
class Tally:
    """Writes of one phase: acknowledged to the clients, committed on A, present on C after the cutover."""

    pgbench_processed: int | None
    orders_acked: int
    history_a: int
    history_c: int
    orders_a: int
    orders_c: int
    unequal_tables: list[str]
    sequences_equal: bool

    @property
    def lost(self) -> int:
        return max(0, self.history_a - self.history_c) + max(0, self.orders_a - self.orders_c)

    @property
    def ok(self) -> bool:
        # C must also hold everything a client was told was committed (A may hold more: a COMMIT whose
        # answer was cut off by the terminate is on A but not counted by the client).
        acked_on_c = self.orders_c >= self.orders_acked and self.history_c >= (self.pgbench_processed or 0)
        return self.lost == 0 and not self.unequal_tables and self.sequences_equal and acked_on_c


@dataclass
class Phase:
    name: str
    cutover: Cutover | None = None
    tally: Tally | None = None
    error: str | None = None
    load_avg: tuple[float, float, float] | None = None


class AppLoad:
    """The application on A as role app: pgbench tpcb-like with 2 clients, plus single-row orders inserts."""

    def __init__(self, cl: LocalClusters, note: str) -> None:
        self.cl, self.note = cl, note
        self.orders = 0  # inserts whose COMMIT was acknowledged
        self.errors: list[str] = []
        self.output = ""
        self._stop = threading.Event()
        env = {**os.environ, "PGPASSWORD": cl.passwords()["app"]}
        # -T far beyond the phase: the fence's terminate is what ends pgbench.
        self.pgbench = subprocess.Popen(
            [cl.tool("pgbench"), "-n", "-c", "2", "-T", "900", "-h", "127.0.0.1", "-p", str(cl.a.port), "-U", "app",
             DATABASE], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._thread = threading.Thread(target=self._orders, name="bench-orders", daemon=True)
        self._thread.start()

    def _orders(self) -> None:
        try:
            conn = psycopg2.connect(self.cl.uri(self.cl.a, user="app"))
        except psycopg2.Error as exc:
            self.errors.append(str(exc).strip())
            return
        try:
            with conn.cursor() as cur:
                while not self._stop.is_set():
                    cur.execute("INSERT INTO orders (customer, amount, note) VALUES (1, 2, %s)", (self.note,))
                    conn.commit()
                    self.orders += 1
        except psycopg2.Error as exc:  # the fence terminates this session: the end of the load
            self.errors.append(str(exc).strip())
        finally:
            conn.close()

    def wait_busy(self) -> None:
        wait_for(lambda: self.orders > 50, 30, what="application writes on A")
        if self.pgbench.poll() is not None:
            raise RunFailed(f"pgbench ended before the cutover: {self.pgbench.communicate()[0].strip()}")

    def finish(self, timeout: float = 60) -> int | None:
        """After the fence: collect pgbench's output; its count of transactions it saw committed."""
        self._thread.join(timeout)
        try:
            self.output, _ = self.pgbench.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise RunFailed("pgbench still running after the cutover: the fence did not end its sessions") from exc
        match = re.search(r"number of transactions actually processed: (\d+)", self.output)
        return int(match.group(1)) if match else None

    def stop(self) -> None:
        self._stop.set()
        if self.pgbench.poll() is None:
            self.pgbench.kill()
            self.pgbench.communicate()
        self._thread.join(10)


@contextlib.contextmanager
def fds_to(path: Path) -> Iterator[None]:
    """fds 1 and 2 into ``path``. Not testing_support.CaptureFds: it swaps sys.stdout for a stream it closes
    afterwards, and Airflow's structlog keeps the stream of the first run, so the next run writes to a closed file."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, target in zip(saved, (1, 2), strict=True):
            os.dup2(fd, target)
            os.close(fd)


def run_dag_quiet(conf: dict[str, Any]) -> Any:
    """The DAG under dag.test() with its task logs out of the way; RunFailed with the telling lines if it fails."""
    log = HOME / "dag-runs.log"
    start = log.stat().st_size if log.exists() else 0
    with fds_to(log):
        dag_run = run_dag(conf)
    if str(dag_run.state) != "success":
        failed = {k: v for k, v in task_states(dag_run).items() if v not in ("success", "skipped")}
        text = log.read_bytes()[start:].decode(errors="replace")
        raise RunFailed(f"DAG run ({conf['action']}) {dag_run.state}: {failed}\n{log_excerpt(text)}")
    return dag_run


def task_seconds(dag_run: Any, task_id: str) -> str:
    ti = next((t for t in dag_run.get_task_instances() if t.task_id == task_id), None)
    return f"{(ti.end_date - ti.start_date).total_seconds():.2f} s" if ti and ti.start_date and ti.end_date else "?"


def dag_cutover(cl: LocalClusters, reports: Path, verify: str) -> Cutover:
    t0 = time.monotonic()
    dag_run = run_dag_quiet(chain_conf(cl, action="cutover", app_roles=["app"], dry_run=False, gate_readings=2,
                                       gate_interval_seconds=0.2, report_dir=str(reports), verify=verify))
    wall = time.monotonic() - t0
    report = json.loads((reports / "cutover" / safe_name(dag_run.run_id) / "report.json").read_text())
    timeline = {k: datetime.fromisoformat(v).timestamp() for k, v in report["timeline"].items() if v}
    started = datetime.fromisoformat(report["started_at"]).timestamp()
    notes = [f"DAG run {wall:.1f} s wall (dag.test()); task cutover_gate {task_seconds(dag_run, 'cutover_gate')}, "
             f"task cutover {task_seconds(dag_run, 'cutover')}",
             f"cutover task start -> fence: {timeline['fenced'] - started:.3f} s (role check, final gate reading; "
             "A still writable)",
             f"sessions terminated by the fence: {len(report.get('terminated_sessions', []))}; left unfenced: "
             f"{len(report.get('unfenced_sessions', []))}"]
    section = report.get("verify", {})
    if verify == "delta":
        notes += [f"before the fence: {r['kind']} at {r['lsn']}, "
                  + (f"{r['rows']} rows" if r["kind"] == "full" else f"{r['keys']} changed rows")
                  + f", B paused {r['paused_seconds']:.3f} s" for r in section.get("rounds", [])]
        inside = section.get("inside_fence", {})
        notes.append(f"inside the fence: {inside.get('keys')} changed rows by key in "
                     f"{', '.join(inside.get('tables_by_key', [])) or 'no table'}; checked whole: "
                     f"{', '.join(inside.get('tables_whole', {})) or 'none'}; {inside.get('seconds')} s")
        notes.append(f"forecast: {section.get('forecast', {}).get('seconds')} s predicted")
    else:
        notes += [f"verify {t['table']}: {t['status']}, {t['source_rows']} rows" for t in report.get("tables", [])]
    pre = timeline.get("pre_verified")
    return Cutover(float(report["write_downtime_seconds"]), timeline, notes,
                   verify_seconds=timeline["verified"] - timeline["access_synced"],
                   rows_before=section.get("rows_verified_before_fence", 0),
                   rows_inside=section.get("rows_verified_inside_fence"),
                   pre_verify_seconds=pre - started if pre else None)


def hand_cutover(cl: LocalClusters) -> Cutover:
    """What a DBA types in three open psql sessions, one statement after another."""
    conns = {n: psycopg2.connect(cl.uri(node)) for n, node in (("a", cl.a), ("b", cl.b), ("c", cl.c))}
    try:
        for conn in conns.values():
            conn.autocommit = True
        a, b, c = (conns[n].cursor() for n in "abc")
        a.execute(FINGERPRINT_SESSION)
        c.execute(FINGERPRINT_SESSION)
        # Prepared before the fence, as the DBA's script would be.
        a.execute("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public' "
                  "ORDER BY 1")
        tables = [r[0] for r in a.fetchall()]
        t: dict[str, float] = {}
        a.execute(f"BEGIN; ALTER ROLE app NOLOGIN; "
                  f"ALTER DATABASE {DATABASE} SET default_transaction_read_only = on; COMMIT")
        t["fenced"] = time.time()
        # Signal every session, then wait for all of them to be gone (as the DAG does).
        # pg_terminate_backend in the select list: in WHERE it could run before the filter on our own pid.
        a.execute("SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app' "
                  "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
        pids = [r[0] for r in a.fetchall()]
        terminated = len(pids)
        while pids:
            a.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY (%s)", (pids,))
            if not a.fetchone()[0]:
                break
            time.sleep(0.005)
        t["terminated"] = time.time()
        a.execute("SELECT pg_current_wal_insert_lsn()::text")
        final = a.fetchone()[0]
        t["final_lsn"] = time.time()
        deadline, last_nudge = time.monotonic() + 120, 0.0
        while True:
            b.execute("SELECT pg_last_wal_replay_lsn() >= %(lsn)s::pg_lsn, (SELECT confirmed_flush_lsn >= "
                      "%(lsn)s::pg_lsn FROM pg_replication_slots WHERE slot_name = %(slot)s)",
                      {"lsn": final, "slot": NAMES["slot"]})
            replayed, confirmed = b.fetchone()
            now = time.time()
            if replayed and "b_replayed" not in t:
                t["b_replayed"] = now
            if confirmed:
                t["drained"] = now
                break
            if time.monotonic() > deadline:
                raise RunFailed(f"hand drain: C did not confirm {final} within 120 s")
            # New WAL for B's walsender, so C answers without waiting for its status interval.
            if time.monotonic() - last_nudge > NUDGE_EVERY:
                a.execute("SELECT pg_log_standby_snapshot()")
                last_nudge = time.monotonic()
            time.sleep(POLL_EVERY)
        fingerprints = {}
        for side, cur in (("a", a), ("c", c)):
            for table in tables:
                cur.execute(f"SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM {table} t")
                fingerprints[side, table] = cur.fetchone()
            t["a_counted" if side == "a" else "verified"] = time.time()
        unequal = [tb for tb in tables if fingerprints["a", tb] != fingerprints["c", tb]]
        if unequal:
            raise RunFailed(f"hand verify: A and C differ in {', '.join(unequal)}")
        a.execute("SELECT schemaname, sequencename, last_value FROM pg_sequences "
                  "WHERE schemaname = 'public' AND last_value IS NOT NULL")
        for schema, name, value in a.fetchall():
            c.execute("SELECT setval(%s::regclass, %s, true)", (pgsql.Identifier(schema, name).as_string(c), value))
        t["sequences_set"] = time.time()
        sub = pgsql.Identifier(NAMES["subscription"]).as_string(c)
        c.execute(f"ALTER SUBSCRIPTION {sub} DISABLE")
        c.execute(f"DROP SUBSCRIPTION {sub}")  # also drops its slot on B
        t["finalized"] = time.time()
    finally:
        for conn in conns.values():
            conn.close()
    notes = [f"sessions terminated by the fence: {terminated}; final LSN {final}",
             *(f"verify {tb}: equal, {fingerprints['a', tb][0]} rows" for tb in tables)]
    rows = sum(int(fingerprints["a", tb][0]) for tb in tables)
    return Cutover(t["finalized"] - t["fenced"], t, notes, verify_seconds=t["verified"] - t["drained"], rows_before=0,
                   rows_inside=rows)


def count(cl: LocalClusters, node: Node, query: str, params: Any = None) -> int:
    return int(sql(cl, node, query, params)[0][0])


def run_phase(cl: LocalClusters, phase: Phase, cutover: Callable[[], Cutover], moving: bool = False) -> None:
    """Build the chain with the DAG, put the app's writes on A, cut over, then compare A with C. ``moving``: an
    application that names A then C in its connection string writes too (data-neutral rewrites), and its
    last commit on A -> first commit on C is the application-visible write downtime."""
    run_dag_quiet(chain_conf(cl, poll_interval_seconds=0.5))
    wait_c_caught_up(cl)
    history_before = count(cl, cl.a, "SELECT count(*) FROM pgbench_history")
    note = f"bench-{phase.name}"
    load = AppLoad(cl, note)
    app = MovingApp(cl, rate=100, neutral=True).start() if moving else None
    try:
        load.wait_busy()
        time.sleep(WARMUP_SECONDS)
        phase.load_avg = os.getloadavg()
        phase.cutover = cutover()
        processed = load.finish()
        if app:
            moved = app.wait_on_c(commits=5, timeout=30)
            app.stop()
            phase.cutover.app_downtime = app.downtime
            if not moved:
                phase.cutover.notes.append(f"the moving application did not reach C: {'; '.join(app.refusals)}")
    finally:
        load.stop()
        if app:
            app.stop()
    tables = user_tables(cl, cl.a)
    seq = "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
    orders = "SELECT count(*) FROM orders WHERE note = %s"
    phase.tally = Tally(
        pgbench_processed=processed, orders_acked=load.orders,
        history_a=count(cl, cl.a, "SELECT count(*) FROM pgbench_history") - history_before,
        history_c=count(cl, cl.c, "SELECT count(*) FROM pgbench_history") - history_before,
        orders_a=count(cl, cl.a, orders, (note,)), orders_c=count(cl, cl.c, orders, (note,)),
        unequal_tables=[t for t in tables if fingerprint(cl, cl.a, t) != fingerprint(cl, cl.c, t)],
        sequences_equal=sql(cl, cl.a, seq) == sql(cl, cl.c, seq))
    if processed is None:
        phase.cutover.notes.append(f"pgbench printed no transaction count: {load.output.strip()[-300:]}")


def print_timeline(timeline: dict[str, float], first: str = "fenced") -> None:
    """Each step of ``timeline`` (epoch seconds) in time order: seconds from ``first`` and from the step before
    (also :mod:`cutover_databases`')."""
    print(f"  {'step':<18}{'+s from fence':>14}{'step s':>9}")
    start = prev = timeline[first]
    for step, when in sorted(timeline.items(), key=lambda kv: kv[1]):
        print(f"  {step:<18}{when - start:>14.3f}{when - prev:>9.3f}")
        prev = when


def print_phase(phase: Phase) -> None:
    print(f"\n== {phase.name} cutover (load average before the fence: "
          f"{' '.join(f'{x:.2f}' for x in phase.load_avg or ())})")
    if phase.error:
        print(f"FAILED: {phase.error}")
    cut = phase.cutover
    if cut:
        print_timeline(cut.timeline)
        print(f"  write downtime (fence -> ready): {cut.downtime:.3f} s")
        if cut.app_downtime is not None:
            print(f"  application-visible write downtime (its last commit on A -> first on C): "
                  f"{cut.app_downtime:.3f} s")
        for line in cut.notes:
            print(f"  {line}")


def print_summary(scale: int, phases: list[Phase]) -> None:
    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    def secs(x: float | None) -> str:
        return f"{x:.3f}" if x is not None else "-"

    print(f"\n== summary: pgbench scale {scale}, {os.cpu_count()} cores, load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  {'phase':<6}{'downtime s':>11}{'verify s':>9}{'share':>7}{'rows before':>12}{'rows inside':>12}"
          f"{'app-visible s':>14}{'pre-verify s':>13}{'load 1m':>8}")
    for p in phases:
        c = p.cutover
        if not c:
            print(f"  {p.name:<6} no figures: {p.error or 'phase did not finish'}")
            continue
        share = f"{c.verify_seconds / c.downtime:.0%}" if c.verify_seconds is not None and c.downtime else "-"
        print(f"  {p.name:<6}{c.downtime:>11.3f}{secs(c.verify_seconds):>9}{share:>7}"
              f"{c.rows_before if c.rows_before is not None else '-':>12}"
              f"{c.rows_inside if c.rows_inside is not None else '-':>12}{secs(c.app_downtime):>14}"
              f"{secs(c.pre_verify_seconds):>13}{p.load_avg[0] if p.load_avg else 0:>8.2f}")
    by = {p.name: p.cutover.downtime for p in phases if p.cutover}
    if "delta" in by:
        print(f"  delta <= {TARGET_DELTA_SECONDS:g} s (the target at scales 10 and 100): "
              f"{met(by['delta'] <= TARGET_DELTA_SECONDS)}")
    if "delta" in by and "full" in by:
        print(f"  full / delta = {by['full'] / by['delta']:.2f}")
    if "hand" in by:
        for name in ("delta", "full"):
            if name in by:
                print(f"  {name} / hand = {by[name] / by['hand']:.2f}   target <= {TARGET_RATIO}: "
                      f"{met(by[name] <= TARGET_RATIO * by['hand'])}")
    print("\nwrites per phase: acknowledged to the client / committed on A / rows on C after the cutover")
    print(f"  {'phase':<6}{'pgbench tx':>11}{'history A':>10}{'history C':>10}{'orders ack':>11}{'orders A':>9}"
          f"{'orders C':>9}{'lost':>6}  tables equal  sequences equal")
    for p in phases:
        t = p.tally
        if not t:
            print(f"  {p.name:<6} no figures: {p.error or 'phase did not finish'}")
            continue
        print(f"  {p.name:<6}{t.pgbench_processed if t.pgbench_processed is not None else '?':>11}{t.history_a:>10}"
              f"{t.history_c:>10}{t.orders_acked:>11}{t.orders_a:>9}{t.orders_c:>9}{t.lost:>6}  "
              f"{'yes' if not t.unequal_tables else 'NO: ' + ', '.join(t.unequal_tables):<12}  "
              f"{'yes' if t.sequences_equal else 'NO'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=TARGET_SCALE)
    parser.add_argument("--hand", action="store_true", help="also cut over by hand (a third chain)")
    parser.add_argument("--c-profile", choices=C_PROFILES, default="superuser",
                        help="C as a self-managed PostgreSQL (superuser, the default, so that figures compare with "
                             "earlier ones) or Aurora-shaped (aurora: pgshift's role on C is no superuser)")
    parser.add_argument("--databases", type=int, default=1,
                        help="N > 1: one cutover of N databases beside one database of the same total size (--scale "
                             "split over them); see bench/cutover_databases.py")
    args = parser.parse_args()
    if args.databases > 1:
        from cutover_databases import run

        return run(args.databases, args.scale)

    reports = Path(tempfile.mkdtemp(prefix="pgshift-bench-reports-"))
    cl = LocalClusters(state_dir("bench-cutover"), free_port_block(54700), c_profile=args.c_profile)
    phases: list[tuple[Phase, Callable[[], Cutover]]] = [
        (Phase("delta"), lambda: dag_cutover(cl, reports, "delta")),
        (Phase("full"), lambda: dag_cutover(cl, reports, "full")),
        *([(Phase("hand"), lambda: hand_cutover(cl))] if args.hand else []),
    ]
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"clusters on ports {cl.a.port}-{cl.c.port}, C profile {args.c_profile}", flush=True)
    try:
        cl.start()
        t0 = time.monotonic()
        load_sample(cl, scale=args.scale, orders=10000)
        sql(cl, cl.a, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app; "
                      "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO app")
        print(f"sample data: pgbench scale {args.scale} + 10000 orders, loaded in {time.monotonic() - t0:.1f} s",
              flush=True)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        os.environ.update(cl.airflow_connections())

        for i, (phase, cutover) in enumerate(phases):
            t0 = time.monotonic()
            try:
                if i:
                    cl.reset_chain()  # A unfenced, B and C emptied: each phase starts where the first did
                run_phase(cl, phase, cutover, moving=phase.name == "delta")
            except FAILED as exc:
                phase.error = f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, RunFailed):  # unexpected: where it came from matters
                    phase.error += "\n" + traceback.format_exc(limit=-4)
            print_phase(phase)
            print(f"  phase wall time (setup with the DAG, load, cutover, checks): {time.monotonic() - t0:.1f} s",
                  flush=True)
        done = [p for p, _ in phases]
        print_summary(args.scale, done)
        ok = all(p.tally and p.tally.ok and not p.error for p in done)
        print(f"\nresult: {'no row lost, C equal to A in every phase' if ok else 'FAILED: see above'}")
        return 0 if ok else 1
    finally:
        cl.destroy()
        shutil.rmtree(reports, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
