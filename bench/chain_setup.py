#!/usr/bin/env python3
"""Benchmark: the native setup chain on a fresh A/B/C at pgbench scale N (default 10), under light writes.

Prints each task's duration, the whole run, the initial copy rate and whether C matched A.
    .venv/bin/python bench/chain_setup.py [--scale 10] [--rate 20]
It starts its own clusters on free ports and removes them afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from airflow_env import HOME, ROOT  # noqa: F401 - before chain_helpers & co: sys.path, Airflow environment


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20.0, help="write transactions per second on A")
    args = parser.parse_args()

    import subprocess

    from chain_helpers import chain_conf, fingerprint, run_dag, sql, user_tables, wait_c_caught_up
    from pgcluster import LocalClusters
    from sample_data import WriteLoad, load_sample
    from testing_support import free_port_block, state_dir

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    cl = LocalClusters(state_dir("bench"), free_port_block(54600))
    try:
        cl.start()
        t0 = time.monotonic()
        load_sample(cl, scale=args.scale, orders=10000)
        sql(cl, cl.a, "ANALYZE")
        rows = int(sql(cl, cl.a, "SELECT sum(n_live_tup)::bigint FROM pg_stat_user_tables")[0][0])
        print(f"sample data: pgbench scale {args.scale}, about {rows} rows, loaded in {time.monotonic() - t0:.1f} s")
        os.environ.update(cl.airflow_connections())
        load = WriteLoad(cl.uri(cl.a), rate=args.rate).start()
        t0 = time.monotonic()
        dag_run = run_dag(chain_conf(cl, poll_interval_seconds=0.5))
        total = time.monotonic() - t0
        committed = load.stop()
        print(f"\n{'task':<28}{'seconds':>9}")
        for ti in sorted(dag_run.get_task_instances(), key=lambda t: t.start_date or dag_run.start_date):
            if ti.start_date and ti.end_date and str(ti.state) != "skipped":
                print(f"{ti.task_id:<28}{(ti.end_date - ti.start_date).total_seconds():>9.2f}")
        print(f"\nrun {dag_run.state} in {total:.1f} s (dag.test() wall time, Airflow start-up included); "
              f"{committed} write transactions on A during the run")
        synced = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "wait_subscription_synced")
        copy_s = (synced.end_date - synced.start_date).total_seconds()
        print(f"initial copy + catch-up: {copy_s:.1f} s, {rows / copy_s:,.0f} rows/s")
        wait_c_caught_up(cl)
        same = all(fingerprint(cl, cl.a, t) == fingerprint(cl, cl.c, t) for t in user_tables(cl, cl.a))
        print(f"C matches A (count and content hash, every table): {same}")
        return 0 if str(dag_run.state) == "success" and same else 1
    finally:
        cl.destroy()
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
