#!/usr/bin/env python3
"""Benchmark: citus_scale_out's two methods on the same cluster and data, wall time of each and their ratio.

For each method the cluster is reset and seeded with the same ``orders`` rows (default 200000), then the DAG
adds one node under dag.test(): ``rebalance`` (citus_add_node + background rebalance) and ``clone``
(basebackup of worker 1, citus_add_clone_node, promotion, rebalance of what the split leaves uneven). Prints
the DAG's wall time, the time of its main tasks, the write-blocking window the promotion measured, and
the ratio.
    .venv/bin/python bench/citus_scale_out.py [--rows 200000] [--move-seconds 2]
Without CITUS_TEST_DSN it runs on pgshift's Citus emulation (tests/citus), whose timings are NOT Citus's:
a move lasts ``--move-seconds`` plus its copy, a promotion's catch-up poll is Citus's 5 s. On real Citus
13.2.2 the transcripts measured 62-65 s against 6.9-7.5 s at 500k-2M rows (F_08, F_09). With CITUS_TEST_DSN
it needs what the clone tests need (docs/citus.md). Exit status 0 when both runs succeed with every row there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, TypeAlias

from airflow_env import HOME, ROOT

sys.path.insert(0, str(ROOT / "tests" / "citus"))

from citus_helpers import CONN_ID, RealCluster, run_dag, task_states, xcom
from testing_support import free_port_block, state_dir

if TYPE_CHECKING:  # imported in main(), only when no real cluster is given
    from citus_servers import EmulatedCluster

# The two clusters a run can take: both name their workers (CitusCluster, their base, does not).
Cluster: TypeAlias = "RealCluster | EmulatedCluster"

CLONE_STEPS = ("clone_basebackup", "wait_clones", "add_clones", "promote_clones")
TASKS = ("clone_basebackup", "wait_clones", "add_clones", "plan", "promote_clones", "add_nodes", "start_rebalance",
         "wait_rebalance", "verify")


def task_seconds(dag_run: Any) -> dict[str, float]:
    return {ti.task_id: (ti.end_date - ti.start_date).total_seconds() for ti in dag_run.get_task_instances()
            if ti.start_date and ti.end_date and ti.state == "success"}


def one_run(cluster: Cluster, method: str, rows: int, move_seconds: float) -> dict[str, Any]:
    cluster.reset(rows)
    cluster.tune(move_seconds=move_seconds, clone_catchup_poll_seconds=5, runner_start_delay_seconds=1)
    new, source = cluster.new_workers[0], cluster.existing_workers[0]
    conf: dict[str, Any] = {"new_workers": [str(new)], "poll_interval_seconds": 0.5}
    if method == "clone":
        conf = {**conf, "method": "clone", "new_workers": [f"{new}={source}"], **cluster.clone_target(new)}
    started = time.monotonic()
    dag_run = run_dag(conf)
    wall = time.monotonic() - started
    promoted = (xcom(dag_run, "promote_clones") or {}).get("promoted") or []
    result = {"method": method, "state": str(dag_run.state), "wall_s": wall, "tasks": task_seconds(dag_run),
              "rows_after": cluster.value("SELECT count(*) FROM orders"), "shards": cluster.shard_counts(),
              "blocked_s": promoted[0]["blocked_writes_seconds"] if promoted else None,
              "states": task_states(dag_run)}
    if method == "clone":
        cluster.restore_node(new)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--move-seconds", type=float, default=2.0, help="emulation: one move's extra wall time")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    servers = None
    try:
        if os.environ.get("CITUS_TEST_DSN"):
            cluster: Cluster = RealCluster()
            where = "real Citus cluster (CITUS_TEST_DSN)"
        else:
            from citus_servers import EmulatedCluster, EmulatedServers

            servers = EmulatedServers(state_dir("bench-citus"), free_port_block(58600))
            servers.start()
            cluster = EmulatedCluster(servers)
            where = "pgshift's Citus emulation (timings are the emulation's, not Citus's)"
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = cluster.coordinator_uri
        results = [one_run(cluster, method, args.rows, args.move_seconds) for method in ("rebalance", "clone")]
    finally:
        if servers is not None:
            servers.stop()
            shutil.rmtree(servers.state_dir, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)
    print(f"\ncitus_scale_out, one node added, {args.rows} rows of orders, on {where}")
    for r in results:
        steps = ", ".join(f"{t} {r['tasks'][t]:.1f} s" for t in TASKS if t in r["tasks"])
        blocked = f"; writes to the cloned worker blocked {r['blocked_s']:.2f} s" if r["blocked_s"] else ""
        print(f"  {r['method']:<9} {r['state']:<7} wall {r['wall_s']:6.1f} s  rows {r['rows_after']}  "
              f"shards {sorted(r['shards'].values())}{blocked}\n            {steps}")
    rebalance, clone = results
    cloning = sum(clone["tasks"].get(t, 0.0) for t in CLONE_STEPS)
    print(f"  clone's own steps (basebackup, lag wait, add_clone_node, promotion): {cloning:.1f} s; the rest is the "
          "rebalance of what the split leaves uneven (rebalance_after_clone)")
    if clone["wall_s"]:
        print(f"  ratio rebalance / clone: {rebalance['wall_s'] / clone['wall_s']:.2f}x "
              "(real Citus 13.2.2: 62.1 s / 6.9 s = 9.0x at 500k rows, 65.1 s / 7.5 s = 8.6x at 2M, F_08/F_09)")
    ok = all(r["state"] == "success" and r["rows_after"] == args.rows for r in results)
    if not ok:
        for r in results:
            print(f"  {r['method']}: {r['states']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
