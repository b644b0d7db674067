#!/usr/bin/env python3
"""Benchmark: the write downtime of one cutover of several databases beside one database of the same total size,
under writes in every database (``bench/cutover.py --databases N`` runs this).

One run starts its own A/B/C and runs two phases, each building its chain and cutting over with the DAG
(``verify=delta``) while role app writes with pgbench (``N`` clients in all, unthrottled):

- ``one``: pgbench scale ``S`` in the database ``pgshift``, cut over alone (``databases`` empty), ``N`` clients;
- ``N dbs``: the same ``S`` split over ``N`` databases (``pgshift`` and ``bench_2`` .. ``bench_N``, pgbench scale
  ``S/N`` each), one client in each, cut over in one cutover (``databases`` all of them). The extra databases are
  set up by the single-database operators with their part of the chain (``ChainConfig.database_chains()``); their
  tables are made on C by ``pgbench -i -I dtp`` (the same tables, empty).

Prints each phase's write downtime (fence -> ready), its forecast, each database's drain, the ratio N dbs / one
(the issue's goal on this machine: <= 1.3), and whether every table of every database is equal on A and C.
    .venv/bin/python bench/cutover.py --databases 3 [--scale 15]
Exit status 0 when both cutovers finished with every table equal; 1 otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_env import HOME, ROOT  # noqa: F401 - before chain_helpers & co: sys.path, Airflow environment
from chain_helpers import chain_conf, chain_config, set_up_parts, sql
from cutover import FAILED, RunFailed, print_timeline, run_dag_quiet
from pgcluster import DATABASE, LocalClusters
from testing_support import free_port_block, state_dir

from pgshift.common.report import safe_name

TARGET_RATIO = 1.3  # issue 23: one cutover of the set at most this many times one database of the same size
WARMUP_SECONDS = 5.0
GRANTS = ("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app; "
          "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO app; "
          "GRANT SELECT ON ALL TABLES IN SCHEMA public TO replicator; "
          "ALTER TABLE pgbench_history REPLICA IDENTITY FULL")  # as sample_data does: no primary key


def pgbench(cl: LocalClusters, node: Any, db: str, *args: str, user: str | None = None) -> subprocess.Popen[str]:
    """pgbench on ``node``'s ``db`` as ``user`` (default: the harness's administrator there), its output merged."""
    uri = cl.uri(node, user or cl.admin_user(node), db=db)  # not logged: pgbench does not echo its conninfo
    return subprocess.Popen([cl.tool("pgbench"), *args, uri], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def init(cl: LocalClusters, db: str, scale: int) -> None:
    """pgbench's tables at ``scale`` in ``db`` on A (made anew), and for a database other than ``pgshift`` (whose
    schema the DAG's setup copies) the same tables, empty, on C."""
    for node, steps in ((cl.a, "dtgvp"), *(((cl.c, "dtp"),) if db != DATABASE else ())):
        if not sql(cl, node, "SELECT 1 FROM pg_database WHERE datname = %s", (db,)):
            sql(cl, node, f'CREATE DATABASE "{db}"')
        out, _ = pgbench(cl, node, db, "-i", "-q", "-I", steps, "-s", str(scale)).communicate()
        if node is cl.a:
            sql(cl, node, GRANTS, db=db)
        elif "done" not in out:
            raise RunFailed(f"pgbench -i on C ({db}): {out.strip()[-300:]}")


def set_up(cl: LocalClusters, databases: list[str], reports: Path) -> Any:
    """The chain built by the DAG for ``pgshift``, then each other database by the single-database operators."""
    run_dag_quiet(chain_conf(cl, poll_interval_seconds=0.5))
    chain = chain_config(cl, databases=databases if len(databases) > 1 else [], report_dir=str(reports))
    set_up_parts(cl, chain, timeout=300)
    return chain


def cut_over(cl: LocalClusters, databases: list[str], clients_each: int, reports: Path) -> dict[str, Any]:
    """Writes in every database, then the DAG's cutover; the report, with the phase's own figures."""
    load = [pgbench(cl, cl.a, db, "-n", "-c", str(clients_each), "-T", "900", user="app") for db in databases]
    try:
        time.sleep(WARMUP_SECONDS)
        for db, proc in zip(databases, load, strict=True):
            if proc.poll() is not None:
                raise RunFailed(f"pgbench in {db} ended before the cutover: {proc.communicate()[0].strip()}")
        load_avg = os.getloadavg()
        dag_run = run_dag_quiet(chain_conf(
            cl, action="cutover", app_roles=["app"], dry_run=False, gate_readings=2, gate_interval_seconds=0.2,
            report_dir=str(reports), databases=databases if len(databases) > 1 else []))
        for proc in load:
            proc.communicate(timeout=60)  # the fence ended its sessions
    finally:
        for proc in load:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    report: dict[str, Any] = json.loads((reports / "cutover" / safe_name(dag_run.run_id) / "report.json").read_text())
    report["load_avg"] = load_avg
    report["unequal"] = [f"{db}:{t}" for db in databases for t in unequal_tables(cl, db)]
    return report


def unequal_tables(cl: LocalClusters, db: str) -> list[str]:
    tables = [r[0] for r in sql(cl, cl.a, "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables",
                                db=db)]
    query = "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM {} t"
    return [t for t in tables if sql(cl, cl.a, query.format(t), db=db) != sql(cl, cl.c, query.format(t), db=db)]


def print_phase(name: str, report: dict[str, Any]) -> None:
    print(f"\n== {name} (load average before the cutover: {' '.join(f'{x:.2f}' for x in report['load_avg'])})")
    timeline = {k: datetime.fromisoformat(v).timestamp() for k, v in report["timeline"].items() if v}
    print_timeline({step: when for step, when in timeline.items() if when >= timeline["fenced"]})
    forecast = report.get("forecast") or (report.get("verify") or {}).get("forecast") or {}
    print(f"  write downtime (fence -> ready): {report['write_downtime_seconds']:.3f} s; forecast "
          f"{forecast.get('seconds')} s")
    for db, part in (report.get("databases") or {}).items():
        drain, inside = part.get("drain") or {}, (part.get("verify") or {}).get("inside_fence") or {}
        print(f"  {db}: drained {drain.get('seconds_after_fence')} s after the fence; {inside.get('keys')} changed "
              f"rows verified inside the fence in {inside.get('seconds')} s")
    print(f"  tables equal on A and C: {'yes' if not report['unequal'] else 'NO: ' + ', '.join(report['unequal'])}")


def run(n: int, scale: int) -> int:
    reports = Path(tempfile.mkdtemp(prefix="pgshift-bench-dbs-"))
    cl = LocalClusters(state_dir("bench-cutover-databases"), free_port_block(54760))
    names = [DATABASE, *(f"bench_{i}" for i in range(2, n + 1))]
    each = max(1, scale // n)
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{n} databases of pgbench scale {each} beside one of scale {each * n}", flush=True)
    figures: dict[str, dict[str, Any]] = {}
    try:
        cl.start()
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        os.environ.update(cl.airflow_connections())
        for i, (name, databases, size) in enumerate((("one", [DATABASE], each * n), (f"{n} dbs", names, each))):
            t0 = time.monotonic()
            try:
                if i:
                    cl.reset_chain()  # A unfenced, B and C emptied: the second phase starts where the first did
                for db in databases:
                    init(cl, db, size)
                set_up(cl, databases, reports)
                figures[name] = cut_over(cl, databases, n if len(databases) == 1 else 1, reports)
                print_phase(name, figures[name])
            except FAILED as exc:
                print(f"\n== {name}: FAILED: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-4)}")
            print(f"  phase wall time: {time.monotonic() - t0:.1f} s", flush=True)
        ok = len(figures) == 2 and not any(f["unequal"] for f in figures.values())
        if len(figures) == 2:
            one, several = (figures[k]["write_downtime_seconds"] for k in ("one", f"{n} dbs"))
            print(f"\n== summary ({os.cpu_count()} cores, load average now "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})\n  one database, scale {each * n}: {one:.3f} s; "
                  f"{n} databases, scale {each} each: {several:.3f} s; ratio {several / one:.2f} (goal <= "
                  f"{TARGET_RATIO}: {'met' if several <= TARGET_RATIO * one else 'MISSED'})")
        print(f"\nresult: {'every table equal in both phases' if ok else 'FAILED: see above'}")
        return 0 if ok else 1
    finally:
        cl.destroy()
        shutil.rmtree(reports, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)
