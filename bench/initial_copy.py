#!/usr/bin/env python3
"""Benchmark: C's first copy, ``initial_copy=subscription`` against ``initial_copy=parallel``, on one fresh A/B/C at
pgbench scale N (default 50), under light writes on A.

For each path the chain is set up from scratch by the DAG (B rebuilt, C emptied) and timed from the start of
``copy_schema_to_c`` to the end of ``wait_subscription_synced`` (the schema, the rows, the indexes and C in sync:
what both paths must do); then C is compared with A, table by table, once caught up. Prints each path's seconds,
MB/s (of A's table and index size) and ``parallel/subscription = R`` (the goal: R <= 0.75 at scale 50 and 200).
    .venv/bin/python bench/initial_copy.py [--scale 50] [--workers 0] [--rate 5]
It starts its own clusters on free ports and removes them afterwards. Exit status 0 when both paths left C equal to
A, whatever R.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from typing import Any

from airflow_env import HOME, ROOT  # noqa: F401 - before chain_helpers & co: sys.path, Airflow environment

MB = 1024 * 1024


def timed_setup(cl: Any, path: str, workers: int, rate: float) -> tuple[float, float, bool]:
    """The chain set up with ``initial_copy=path``: (copy seconds, whole run seconds, C equal to A)."""
    from chain_helpers import chain_conf, fingerprint, run_dag, sql, user_tables, wait_c_caught_up
    from sample_data import WriteLoad

    cl.reset_chain()
    sql(cl, cl.a, "CHECKPOINT")
    load = WriteLoad(cl.uri(cl.a), rate=rate).start()
    started = time.monotonic()
    dag_run = run_dag(chain_conf(cl, initial_copy=path, copy_workers=workers))
    total = time.monotonic() - started
    load.stop()
    if str(dag_run.state) != "success":
        print(f"  {path}: the setup {dag_run.state}")
        return float("nan"), total, False
    tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    copy = (tis["wait_subscription_synced"].end_date - tis["copy_schema_to_c"].start_date).total_seconds()
    for task in ("copy_schema_to_c", "initial_copy", "create_subscription", "wait_subscription_synced"):
        ti = tis[task]
        if ti.start_date and ti.end_date:
            print(f"    {task:<26}{(ti.end_date - ti.start_date).total_seconds():>8.2f} s")
    if path == "parallel":
        import json

        result = tis["initial_copy"].xcom_pull(task_ids="initial_copy")
        report = json.loads(open(result["report"]).read())
        post = sum(p["seconds"] for p in report["post_data"].values())
        print(f"    of which: copy {report['copy_seconds']:.2f} s ({report['ranges']} ranges, {report['workers']} "
              f"sessions), verify {report['verify_seconds']:.2f} s, B paused {report['paused_seconds']:.2f} s "
              f"(copy, verify, slot), indexes and constraints {post:.2f} s")
    wait_c_caught_up(cl, timeout=600)
    same = all(fingerprint(cl, cl.a, t) == fingerprint(cl, cl.c, t) for t in user_tables(cl, cl.a))
    return copy, total, same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--workers", type=int, default=0, help="copy_workers (0: the machine's cores)")
    parser.add_argument("--rate", type=float, default=5.0, help="write transactions per second on A")
    args = parser.parse_args()

    from chain_helpers import sql
    from pgcluster import LocalClusters
    from sample_data import load_sample
    from testing_support import free_port_block, state_dir

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    cl = LocalClusters(state_dir("bench-copy"), free_port_block(54700))
    try:
        cl.start()
        t0 = time.monotonic()
        load_sample(cl, scale=args.scale, orders=10000)
        sql(cl, cl.a, "VACUUM ANALYZE")
        size = int(sql(cl, cl.a, "SELECT sum(pg_total_relation_size(relid))::bigint FROM pg_stat_user_tables")[0][0])
        print(f"pgbench scale {args.scale}: {size / MB:.0f} MB of tables and indexes on A, loaded in "
              f"{time.monotonic() - t0:.0f} s; load average {os.getloadavg()[0]:.2f}")
        os.environ.update(cl.airflow_connections())
        figures = {}
        for path in ("subscription", "parallel"):
            print(f"  initial_copy={path} (load average {os.getloadavg()[0]:.2f} before):")
            copy, total, same = timed_setup(cl, path, args.workers, args.rate)
            figures[path] = (copy, same)
            print(f"  {path}: {copy:.1f} s from the schema to C in sync, {size / MB / copy:.0f} MB/s; whole setup "
                  f"{total:.1f} s; C equal to A in every table: {same}")
        ratio = figures["parallel"][0] / figures["subscription"][0]
        print(f"parallel/subscription = {ratio:.2f} (goal <= 0.75)")
        return 0 if all(same for _, same in figures.values()) else 1
    finally:
        cl.destroy()
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
