#!/usr/bin/env python3
"""Benchmark: write downtime of the fallback (C -> A) beside the cutover's (A -> C), under application writes.

One run starts its own A/B/C (pgbench scale N, default 10), builds the chain with the DAG, cuts over through the
DAG (the way back armed, the default) while role app writes on A (pgbench -c 2 plus an orders inserter), then
puts the same load on C and falls back through the DAG. Prints both timelines and write downtimes, the ratio
against the target (fallback within 1.25x of the cutover), and the writes acknowledged on C against the rows on A
(and B) after the fallback.
    .venv/bin/python bench/fallback.py [--scale 10] [--c-profile aurora]
Exit status 0 when both finished with no row lost and every table equal, whether or not the target was met;
1 otherwise. The clusters and temp dirs are removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_env import HOME, ROOT  # noqa: F401 - before chain_helpers & co: sys.path, Airflow environment
from chain_helpers import chain_conf, fingerprint, sql, user_tables, wait_c_caught_up
from cutover import WARMUP_SECONDS, AppLoad, RunFailed, run_dag_quiet
from pgcluster import C_PROFILES, LocalClusters, Node
from sample_data import load_sample
from testing_support import free_port_block, state_dir, wait_for

from pgshift.common.report import safe_name

TARGET_RATIO = 1.25  # fallback downtime at most this many times the cutover's


class On:
    """``cl`` with ``a`` pointing at another node: bench/cutover.py's AppLoad writes on ``cl.a``."""

    def __init__(self, cl: LocalClusters, node: Node) -> None:
        self._cl, self.a = cl, node

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cl, name)


def count(cl: LocalClusters, node: Node, query: str, params: Any = None) -> int:
    return int(sql(cl, node, query, params)[0][0])


def timed(cl: LocalClusters, reports: Path, action: str, where: Node, note: str) -> dict[str, Any]:
    """The action through the DAG while the application writes on ``where``; its report and the load's tally."""
    history_before = count(cl, where, "SELECT count(*) FROM pgbench_history")
    load = AppLoad(On(cl, where), note)  # type: ignore[arg-type]
    try:
        load.wait_busy()
        time.sleep(WARMUP_SECONDS)
        load_avg = os.getloadavg()
        dag_run = run_dag_quiet(chain_conf(cl, action=action, app_roles=["app"], dry_run=False, gate_readings=2,
                                           gate_interval_seconds=0.2, report_dir=str(reports)))
        processed = load.finish()
    finally:
        load.stop()
    report = json.loads((reports / action / safe_name(dag_run.run_id) / "report.json").read_text())
    return {"report": report, "load_avg": load_avg, "processed": processed, "orders_acked": load.orders,
            "history_before": history_before, "note": note}


def print_timeline(title: str, run: dict[str, Any], first: str) -> None:
    report = run["report"]
    print(f"\n== {title} (load average before: {' '.join(f'{x:.2f}' for x in run['load_avg'])})")
    timeline = {k: datetime.fromisoformat(v).timestamp() for k, v in report["timeline"].items() if v}
    start = prev = timeline[first]
    print(f"  {'step':<18}{'+s from fence':>14}{'step s':>9}")
    for step, when in sorted(timeline.items(), key=lambda kv: kv[1]):
        print(f"  {step:<18}{when - start:>14.3f}{when - prev:>9.3f}")
        prev = when
    print(f"  write downtime: {report['write_downtime_seconds']:.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--c-profile", choices=C_PROFILES, default="superuser",
                        help="C as a self-managed PostgreSQL (superuser, the default, so that figures compare with "
                             "earlier ones) or Aurora-shaped (aurora: pgshift's role on C is no superuser)")
    args = parser.parse_args()

    reports = Path(tempfile.mkdtemp(prefix="pgshift-bench-reports-"))
    cl = LocalClusters(state_dir("bench-fallback"), free_port_block(54800), c_profile=args.c_profile)
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
        run_dag_quiet(chain_conf(cl, poll_interval_seconds=0.5))
        wait_c_caught_up(cl)

        cut = timed(cl, reports, "cutover", cl.a, "bench-cutover")
        print_timeline("cutover (A -> C), application writing on A", cut, "fenced")
        print(f"  of which arming the way back: {cut['report']['fallback']['armed_seconds']:.3f} s")
        back = timed(cl, reports, "fallback", cl.c, "bench-fallback")
        print_timeline("fallback (C -> A), application writing on C", back, "c_fenced")

        # Every write acknowledged on C is on A, and on B (which follows A physically).
        lsn = sql(cl, cl.a, "SELECT pg_current_wal_lsn()::text")[0][0]
        wait_for(lambda: sql(cl, cl.b, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0], 60,
                 what="B replaying A")
        orders = "SELECT count(*) FROM orders WHERE note = %s"
        history = "SELECT count(*) FROM pgbench_history"
        orders_c, orders_a, orders_b = (count(cl, n, orders, ("bench-fallback",)) for n in (cl.c, cl.a, cl.b))
        history_c, history_a = (count(cl, n, history) - back["history_before"] for n in (cl.c, cl.a))
        lost = max(0, orders_c - orders_a) + max(0, history_c - history_a)
        unequal = [t for t in user_tables(cl, cl.a) if fingerprint(cl, cl.a, t) != fingerprint(cl, cl.c, t)]
        seq = "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
        sequences_equal = sql(cl, cl.a, seq) == sql(cl, cl.c, seq)
        acked_on_a = orders_a >= back["orders_acked"] and history_a >= (back["processed"] or 0)

        d_cut = float(cut["report"]["write_downtime_seconds"])
        d_back = float(back["report"]["write_downtime_seconds"])
        print(f"\n== summary: pgbench scale {args.scale}, {os.cpu_count()} cores, load average now "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"  cutover  write downtime (fence A -> C ready):   {d_cut:.3f} s")
        print(f"  fallback write downtime (fence C -> A ready):   {d_back:.3f} s")
        print(f"  fallback / cutover = {d_back / d_cut:.2f}   target <= {TARGET_RATIO}: "
              f"{'met' if d_back <= TARGET_RATIO * d_cut else 'MISSED'}")
        print(f"  writes on C: pgbench tx acknowledged {back['processed']}, history rows C {history_c} / A "
              f"{history_a}; orders acknowledged {back['orders_acked']}, on C {orders_c} / A {orders_a} / B "
              f"{orders_b}; lost {lost}")
        print(f"  tables equal A = C: {'yes' if not unequal else 'NO: ' + ', '.join(unequal)}; sequences equal: "
              f"{'yes' if sequences_equal else 'NO'}")
        ok = lost == 0 and not unequal and sequences_equal and acked_on_a and orders_b == orders_a
        print(f"\nresult: {'no row lost, A equal to C after the fallback' if ok else 'FAILED: see above'}")
        return 0 if ok else 1
    except RunFailed as exc:
        print(f"FAILED: {exc}")
        return 1
    finally:
        cl.destroy()
        shutil.rmtree(reports, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
