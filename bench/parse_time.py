#!/usr/bin/env python3
"""Benchmark: how long each DAG file takes to parse, as the dag-processor re-parses it every 30 s.

For each dags/*.py: the median of N fresh interpreters (default 7) that import ``airflow.sdk``, freeze the garbage
collector as the dag-processor does before it forks a parse, and then time the import of the DAG file (which
builds its DAG); and the heavy modules (paramiko, boto, psycopg2, ...) that import loaded, each with the chain of
imports that loaded it (tests/parse_probe.py). Prints the load average beside the figures, the machine being
shared, and the median CPU time of the parse, which a busy machine sways less than the wall time (the budget is
judged on the wall time).
    .venv/bin/python bench/parse_time.py [--runs 7] [--budget 0.3]
Exit status 0 when every file parses within the budget and loads no heavy module; 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys

from airflow_env import HOME, ROOT  # noqa: F401 - before parse_probe: sys.path, Airflow environment


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--budget", type=float, default=0.3, help="seconds allowed per DAG file (median)")
    parser.add_argument("--no-gc-freeze", action="store_true",
                        help="no gc.freeze() after import airflow.sdk: the first full collection of Airflow's objects "
                             "is charged to the parse, as this bench measured before it modelled the dag-processor")
    args = parser.parse_args()

    from parse_probe import DAG_FILES, parse_fresh

    try:
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"\n{'DAG file':<30}{'median s':>9}{'min s':>8}{'max s':>8}{'cpu s':>8}  heavy modules loaded")
        ok = True
        for dag_file in DAG_FILES:
            runs = [parse_fresh(dag_file, gc_freeze=not args.no_gc_freeze) for _ in range(args.runs)]
            seconds = [r.seconds for r in runs]
            heavy = sorted({h for r in runs for h in r.heavy})
            median = statistics.median(seconds)
            ok = ok and median <= args.budget and not heavy
            cpu = statistics.median(r.cpu for r in runs)
            print(f"{dag_file.name:<30}{median:>9.3f}{min(seconds):>8.3f}{max(seconds):>8.3f}{cpu:>8.3f}  "
                  f"{', '.join(heavy) or '-'}")
            if heavy:
                print(parse_fresh(dag_file, trace=True).explain())
        print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
              f"{args.runs} runs per file{', no gc.freeze' if args.no_gc_freeze else ''}, "
              f"budget {args.budget:.2f} s: {'met' if ok else 'NOT met'}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
