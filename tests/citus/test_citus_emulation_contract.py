"""The Citus contract, field by field: what the cluster under test answers against the recorded transcripts.

With the emulation this checks the emulation; with CITUS_TEST_DSN it checks a real cluster the same
way. Transcript SQL is run as recorded, with the recorded nodes (127.0.0.1:9700..9703, :9799) mapped
to the cluster's coordinator, existing workers, new worker and unreachable address.
"""

from __future__ import annotations

import os
import re
import time
from itertools import pairwise
from typing import Any

import psycopg2
import pytest
from citus_helpers import CitusCluster, Node, recorded_size_strategy, transcript, wait_for

TERMINAL = ("finished", "failed", "cancelled")


def calls(name: str) -> list[dict[str, Any]]:
    return transcript(name)["calls"]


def run(cluster: CitusCluster, query: str, node: Node | None = None) -> dict[str, Any]:
    """A statement's outcome in the transcripts' terms: columns, rows, notices, or the error."""
    conn = cluster.connect(node)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(query)
            except psycopg2.Error as exc:
                return {"ok": False, "error": {"sqlstate": exc.pgcode, "message": exc.diag.message_primary,
                                               "detail": exc.diag.message_detail, "hint": exc.diag.message_hint},
                        "notices": [n.strip() for n in conn.notices]}
            names = [(c.name, c.type_code) for c in cur.description or []]
            rows = [dict(zip([n for n, _ in names], r, strict=True)) for r in cur.fetchall()] if names else []
            types = {}
            if names:
                cur.execute("SELECT oid, format_type(oid, NULL) FROM pg_type WHERE oid = ANY(%s)",
                            ([oid for _, oid in names],))
                types = dict(cur.fetchall())
            notices = [n.strip() for n in conn.notices]
            return {"ok": True, "columns": [{"name": n, "type": types[oid]} for n, oid in names], "rows": rows,
                    "notices": notices}
    finally:
        conn.close()


def recorded_error(call: dict[str, Any]) -> dict[str, Any]:
    return {k: call["error"][k] for k in ("sqlstate", "message", "detail", "hint")}


def recorded_notices(call: dict[str, Any]) -> list[str]:
    return [n["raw"].strip() for n in call.get("notices", [])]


class Nodes:
    """The transcripts' nodes -> this cluster's: coordinator 9700, workers 9701/9702, new 9703, dead 9799."""

    def __init__(self, cluster: CitusCluster) -> None:
        url = cluster.sql("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid = 0")[0]
        workers = cluster.sql("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 ORDER BY nodeid")
        self.map = {9700: Node(url["nodename"], url["nodeport"]), 9703: cluster.new_workers[0],
                    9799: cluster.unreachable}
        for port, w in zip((9701, 9702), workers, strict=False):
            self.map[port] = Node(w["nodename"], w["nodeport"])
        self.existing_workers = len(workers)
        self.user = cluster.value("SELECT current_user")

    def sql(self, text: str) -> str:
        return re.sub(r"'127\.0\.0\.1', (97\d\d)",
                      lambda m: f"'{self.map[int(m.group(1))].host}', {self.map[int(m.group(1))].port}", text)

    def text(self, text: str) -> str:
        text = re.sub(r"127\.0\.0\.1([:-])(97\d\d)",
                      lambda m: f"{self.map[int(m.group(2))].host}{m.group(1)}{self.map[int(m.group(2))].port}", text)
        return text.replace("postgres@", f"{self.user}@")


def poll(cluster: CitusCluster, timeout: float = 120, until=lambda row: row["state"] in TERMINAL,
         query: str = "SELECT * FROM citus_rebalance_status()") -> list[dict[str, Any]]:
    """Every distinct status row until ``until`` holds, as the recorder polled (but every 50 ms)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = cluster.sql(query)
        if rows and (not seen or rows[0] != seen[-1]):
            seen.append(rows[0])
        if rows and until(rows[0]):
            return seen
        time.sleep(0.05)
    pytest.fail(f"no terminal state within {timeout} s; last: {seen[-1] if seen else None}")


# ---------------------------------------------------------------- catalog: functions, columns, enums
def test_function_signatures_are_citus_13_2(citus):
    recorded = calls("A_01_function_signatures_and_columns.json")[0]
    assert run(citus, recorded["sql"])["rows"] == recorded["rows"]


def test_result_columns_and_types(citus):
    for recorded in calls("A_01_function_signatures_and_columns.json")[1:]:
        assert run(citus, recorded["sql"])["columns"] == [
            {"name": c["name"], "type": c["type"]} for c in recorded["columns"]], recorded["sql"]


def test_job_and_task_state_enums(citus):
    for recorded in calls("A_02_job_and_task_state_enums.json"):
        outcome = run(citus, recorded["sql"])
        if recorded["ok"]:
            assert outcome["rows"] == recorded["rows"], recorded["sql"]
        else:
            assert outcome["error"] == recorded_error(recorded)


def test_a_node_not_in_the_cluster_answers_like_a_fresh_node(citus):
    """A_08: the new worker, citus installed but not added: empty metadata, the plan's error."""
    if citus.value("SELECT count(*) FROM pg_dist_node", node=citus.new_workers[0]):
        pytest.skip("the new worker keeps metadata from an earlier add and remove: A_08 needs a fresh node")
    for recorded in calls("A_08_queries_on_unadded_node_9703.json"):
        outcome = run(citus, recorded["sql"], node=citus.new_workers[0])
        if recorded["ok"]:
            assert outcome["rows"] == recorded["rows"], recorded["sql"]
        else:
            assert outcome.get("error") == recorded_error(recorded), (recorded["sql"], outcome)


# ---------------------------------------------------------------- nodes
def test_adding_a_node_is_idempotent(citus):
    nodes = Nodes(citus)
    added = calls("A_09_add_node_9703.json")[0]
    first = run(citus, nodes.sql(added["sql"]))
    if not citus.real:
        assert first["rows"] == added["rows"]  # nodeid 4, as recorded
    before = citus.sql("SELECT * FROM pg_dist_node ORDER BY nodeid")
    for recorded in calls("A_10_add_node_already_added.json")[:3]:
        outcome = run(citus, nodes.sql(recorded["sql"]))
        assert outcome["notices"] == recorded_notices(recorded) == []
        if not citus.real:
            assert outcome["rows"] == recorded["rows"], recorded["sql"]
    assert run(citus, nodes.sql(calls("A_10_add_node_already_added.json")[0]["sql"]))["rows"] == first["rows"]
    assert citus.sql("SELECT * FROM pg_dist_node ORDER BY nodeid") == before
    workers = run(citus, calls("A_09_add_node_9703.json")[1]["sql"])["rows"]
    assert {"node_name": citus.new_workers[0].host, "node_port": citus.new_workers[0].port} in workers


def test_an_unreachable_node_is_08006_and_changes_nothing(citus):
    nodes = Nodes(citus)
    recorded = calls("A_11_add_node_unreachable.json")[0]
    before = citus.sql("SELECT * FROM pg_dist_node ORDER BY nodeid")
    outcome = run(citus, nodes.sql(recorded["sql"]))
    expected = recorded_error(recorded)
    assert outcome["error"] == {**expected, "message": nodes.text(expected["message"])}
    assert citus.sql("SELECT * FROM pg_dist_node ORDER BY nodeid") == before


# ---------------------------------------------------------------- the planner
def test_plan_reproduces_the_recorded_plan_from_the_recorded_sizes(citus):
    """A_12 from A_13's shard sizes: a strategy whose cost is each shard's recorded size (by position)."""
    nodes = Nodes(citus)
    if nodes.existing_workers != 2:
        pytest.skip("the recorded plan was made with exactly two workers before the new one")
    sizes = [r["shard_size"] for r in calls("A_13_shards_per_node_before_rebalance.json")[1]["rows"]]
    citus.sql("SELECT citus_add_node(%s, %s)", (citus.new_workers[0].host, citus.new_workers[0].port))
    with recorded_size_strategy(citus, sizes) as strategy:
        first = citus.value("SELECT min(shardid) FROM pg_dist_shard WHERE logicalrelid = 'orders'::regclass")
        plan = citus.sql("SELECT * FROM get_rebalance_table_shards_plan(rebalance_strategy => %s)", (strategy,))
        recorded = calls("A_12_rebalance_plan_before.json")[0]["rows"]
        to_node = {str(n): port for port, n in nodes.map.items()}
        assert [(r["shardid"] - first, to_node[f"{r['sourcename']}:{r['sourceport']}"],
                 to_node[f"{r['targetname']}:{r['targetport']}"], r["shard_size"]) for r in plan] == \
               [(r["shardid"] - 102008, r["sourceport"], r["targetport"], r["shard_size"]) for r in recorded]


def test_nothing_to_move_is_null_with_the_notice(citus):
    recorded = calls("A_07_already_balanced_2_workers.json")
    jobs = citus.value("SELECT count(*) FROM pg_dist_background_job")
    assert run(citus, recorded[0]["sql"])["rows"] == recorded[0]["rows"] == []
    outcome = run(citus, recorded[1]["sql"])
    assert outcome["rows"] == recorded[1]["rows"]
    assert outcome["notices"] == recorded_notices(recorded[1])
    assert citus.value("SELECT count(*) FROM pg_dist_background_job") == jobs


# ---------------------------------------------------------------- background jobs
def start(citus: CitusCluster, nodes: Nodes) -> tuple[int, dict[str, Any]]:
    citus.sql(nodes.sql(calls("A_09_add_node_9703.json")[0]["sql"]))
    outcome = run(citus, calls("A_15_rebalance_start.json")[0]["sql"])
    assert outcome["ok"], outcome
    return outcome["rows"][0]["citus_rebalance_start"], outcome


def test_a_rebalance_job_from_start_to_finished(citus):
    nodes = Nodes(citus)
    rows_before = citus.value("SELECT count(*) FROM orders")
    job, outcome = start(citus, nodes)
    moves = len(citus.sql("SELECT 1 FROM pg_dist_background_task WHERE job_id = %s", (job,)))
    recorded = calls("A_15_rebalance_start.json")
    assert outcome["notices"] == [n.replace("10 moves as job 1", f"{moves} moves as job {job}")
                                  for n in recorded_notices(recorded[0])]
    again = run(citus, recorded[1]["sql"])
    expected = recorded_error(recorded[1])
    assert again["error"] == {**expected, "message": expected["message"].replace("job 1", f"job {job}")}

    seen = poll(citus, until=lambda row: row["state"] in TERMINAL or row["details"]["tasks"])
    # A_17: a move under way, as get_rebalance_progress() reports it.
    progress = wait_for(lambda: citus.sql("SELECT * FROM get_rebalance_progress()"), 30, 0.02, "a move's progress")
    recorded_progress = calls("A_17_rebalance_samples_while_running.json")[1]["rows"][0]
    assert set(progress[0]) == set(recorded_progress)
    assert (progress[0]["operation_type"], progress[0]["targetport"]) == ("move", citus.new_workers[0].port)
    assert progress[0]["progress"] in (1, 2) and progress[0]["source_shard_size"] > 0
    seen += poll(citus)
    recorded_rows = [r["rows"][0] for r in transcript("A_16_rebalance_status_poll.json")["poll"]["distinct_outputs"]]
    states = [r["state"] for r in seen]
    assert [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]] == ["scheduled", "running", "finished"]
    assert seen[0]["details"] == {"tasks": [], "task_state_counts": {"blocked": moves - 1, "runnable": 1}}
    assert seen[0]["started_at"] is None
    task_keys = {frozenset(t) for r in recorded_rows for t in r["details"]["tasks"]}
    running = [t for r in seen for t in r["details"]["tasks"]]
    assert running and {frozenset(t) for t in running} <= task_keys
    for task in running:
        assert task["hosts"]["target"] == str(citus.new_workers[0])
        assert re.fullmatch(r"\d+ (bytes|kB|MB)", task["size"]["source"]), task
        assert task["phase"] in {"Setting Up", "Copying Data", "Catching Up", "Final Catchup",
                                 "Completing", "Completed"}
        assert re.fullmatch(r"SELECT pg_catalog.citus_move_shard_placement\(\d+,\d+,\d+,'auto'\)", task["command"])
    final = seen[-1]
    assert final["details"] == {"tasks": [], "task_state_counts": {"done": moves}}
    assert (final["job_type"], final["description"]) == (recorded_rows[-1]["job_type"],
                                                          recorded_rows[-1]["description"])
    assert final["started_at"] < final["finished_at"]

    # A_20: the job's tasks, each depending on the previous one.
    tasks = citus.sql("SELECT * FROM pg_dist_background_task WHERE job_id = %s ORDER BY task_id", (job,))
    recorded_task = calls("A_20_background_job_tables_after.json")[1]["rows"][0]
    assert [set(t) for t in tasks] == [set(recorded_task)] * moves
    assert {(t["status"], t["message"], t["pid"], t["retry_count"]) for t in tasks} == {
        (recorded_task["status"], recorded_task["message"], recorded_task["pid"], recorded_task["retry_count"])}
    depends = citus.sql("SELECT task_id, depends_on FROM pg_dist_background_task_depend WHERE job_id = %s "
                        "ORDER BY task_id", (job,))
    assert depends == [{"task_id": b["task_id"], "depends_on": a["task_id"]} for a, b in pairwise(tasks)]

    # The shards really moved, and every row is still there.
    assert citus.shard_counts().get(str(citus.new_workers[0]), 0) > 0
    assert citus.value("SELECT count(*) FROM orders") == rows_before

    # A_21: after a finished job, start/stop/wait.
    for recorded_call in calls("A_21_after_finished_start_stop_wait.json")[:4]:
        outcome = run(citus, recorded_call["sql"])
        if recorded_call["ok"]:
            assert outcome["notices"] == recorded_notices(recorded_call), recorded_call["sql"]
            if "citus_rebalance_status" not in recorded_call["sql"]:
                assert outcome["rows"] == recorded_call["rows"]
        else:
            assert outcome["error"] == recorded_error(recorded_call)


def test_stopping_a_running_rebalance_cancels_it(citus):
    """B_default_04: citus_rebalance_stop() during a move -> cancelled; a second stop has nothing to stop."""
    citus.tune(move_seconds=1)
    nodes = Nodes(citus)
    start(citus, nodes)
    wait_for(lambda: citus.sql("SELECT 1 FROM get_rebalance_progress()"), 30, what="a move under way")
    assert run(citus, "SELECT citus_rebalance_stop()")["rows"] == [{"citus_rebalance_stop": ""}]
    final = poll(citus, timeout=30)[-1]
    assert final["state"] == "cancelled" and final["details"]["tasks"] == []
    assert set(final["details"]["task_state_counts"]) <= {"done", "cancelled"}
    assert final["details"]["task_state_counts"]["cancelled"] > 0
    second = calls("B_default_05_C_after_cancel.json")[4]
    assert run(citus, second["sql"])["error"] == recorded_error(second)
    assert citus.value("SELECT count(*) FROM orders") > 0


def test_a_target_that_goes_down_fails_the_job_after_retries(citus):
    """B_default: the target stops mid-move: the task retries with Citus's messages, then the job fails."""
    if not citus.can_break or (citus.real and not os.environ.get("CITUS_TEST_SLOW")):
        pytest.skip("needs a node that can be stopped (and on real Citus CITUS_TEST_SLOW=1: ~33 min of retries)")
    citus.tune(move_seconds=1, task_max_retries=2, retry_backoff_seconds=0.3)
    nodes = Nodes(citus)
    target = citus.new_workers[0]
    job, _ = start(citus, nodes)
    try:
        # Stop the target while a move copies to it, as the recorder did (B_default_01 worker3_stop).
        wait_for(lambda: citus.sql("SELECT 1 FROM get_rebalance_progress() WHERE status = 'Copying Data'"), 30,
                 what="a move copying data")
        citus.break_node(target)
        seen = poll(citus, timeout=60)
        rows_down = run(citus, "SELECT count(*) FROM citus_shards")
    finally:
        citus.repair_node(target)
    recorded = [r["rows"][0] for r in transcript("B_default_02_rebalance_status_poll_failure.json")["poll"]
                ["distinct_outputs"]]
    context = f"\nCONTEXT: Citus Background Task Queue Executor: {citus.value('SELECT current_database()')}/" \
              f"{nodes.user} for ({job}/"
    messages = [t["message"] for r in seen for t in r["details"]["tasks"] if t["state"] in ("runnable", "error")]
    recorded_messages = [nodes.text(t["message"]) for r in recorded for t in r["details"]["tasks"]
                         if t["state"] in ("runnable", "error")]
    # The same two messages, in the same order: the connection lost mid-move, then the disk-stats check.
    shapes = [m.split("\nCONTEXT:")[0] for m in messages]
    assert shapes[0] == recorded_messages[0].split("\nCONTEXT:")[0]
    assert shapes[-1] == recorded_messages[-1].split("\nCONTEXT:")[0]
    assert all(context in m and m.endswith(")\n") for m in messages)
    final = seen[-1]
    assert final["state"] == "failed"
    assert set(final["details"]["task_state_counts"]) <= {"done", "error", "unscheduled"}
    assert final["details"]["task_state_counts"]["error"] == 1
    assert [t["state"] for t in final["details"]["tasks"]] == ["error"]
    assert set(final["details"]["tasks"][0]) == set(recorded[-1]["details"]["tasks"][0])
    down = nodes.text("postgres@127.0.0.1:9703 failed with the following error: Connection refused")
    assert rows_down["ok"] and any(down in n for n in rows_down["notices"]), rows_down
    cleanup = citus.sql("SELECT object_type, policy_type, node_group_id FROM pg_dist_cleanup")
    group = citus.value("SELECT groupid FROM pg_dist_node WHERE nodename = %s AND nodeport = %s",
                        (target.host, target.port))
    recorded_cleanup = calls("B_default_03_after_terminal_state.json")[6]["rows"][0]
    assert {"object_type": recorded_cleanup["object_type"], "policy_type": recorded_cleanup["policy_type"],
            "node_group_id": group} in cleanup


# ---------------------------------------------------------------- progress in bytes (the sensor's ETA)
def test_a_running_job_answers_the_progress_reading_as_recorded(citus):
    """A_17 while a move runs: the raw status, get_rebalance_progress() and the job's tasks, with the
    recorded columns and types; then pgshift's citus_rebalance_progress reading built on them."""
    from pgshift.citus.hook import CitusHook

    citus.tune(move_seconds=1)
    job, _ = start(citus, Nodes(citus))
    wait_for(lambda: citus.sql("SELECT 1 FROM get_rebalance_progress()"), 30, 0.02, "a move under way")
    status, progress, tasks = (dict(c) for c in calls("A_17_rebalance_samples_while_running.json")[:3])
    tasks["sql"] = tasks["sql"].replace("WHERE job_id = 1", f"WHERE job_id = {job}")
    for recorded in (status, progress, tasks):
        outcome = run(citus, recorded["sql"])
        assert outcome["columns"] == [{"name": c["name"], "type": c["type"]} for c in recorded["columns"]]
        if recorded is status:
            # raw => true: sizes are bytes (numbers), as recorded; a move may just have ended.
            for task in outcome["rows"][0]["details"]["tasks"]:
                assert set(task) == set(recorded["rows"][0]["details"]["tasks"][0])
                assert all(isinstance(task["size"][k], int) for k in ("source", "target")), task
        elif recorded is progress:
            for row in outcome["rows"]:
                assert set(row) == set(recorded["rows"][0])
                assert row["operation_type"] == "move" and row["progress"] in (0, 1, 2)
                assert isinstance(row["source_shard_size"], int) and row["source_shard_size"] > 0
                assert isinstance(row["target_shard_size"], int) and row["target_shard_size"] >= 0
        else:
            assert len(outcome["rows"]) == len(citus.sql("SELECT 1 FROM pg_dist_background_task WHERE job_id = %s",
                                                         (job,)))
            assert {r["status"] for r in outcome["rows"]} <= {"done", "running", "runnable", "blocked"}
            assert all(re.fullmatch(r"SELECT pg_catalog.citus_move_shard_placement\(\d+,\d+,\d+,'auto'\)",
                                    r["command"]) for r in outcome["rows"])

    with CitusHook("citus_coordinator") as hook:
        during = hook.rebalance_progress(job)
    assert [r["task_id"] for r in during] == [r["task_id"] for r in citus.sql(
        "SELECT task_id FROM pg_dist_background_task WHERE job_id = %s ORDER BY task_id", (job,))]
    for row in during:
        assert row["planned_bytes"] > 0
        if row["status"] == "done":
            assert row["moved_bytes"] == row["planned_bytes"]
        elif row["status"] == "running":
            assert 0 <= row["moved_bytes"] <= row["planned_bytes"]
        else:
            assert row["moved_bytes"] == 0
    assert len({r["read_at"] for r in during}) == 1

    final = poll(citus)[-1]
    assert final["state"] == "finished"
    with CitusHook("citus_coordinator") as hook:
        after = hook.rebalance_progress(job)
    sizes = {r["shardid"]: r["shard_size"] for r in citus.sql("SELECT shardid, shard_size FROM citus_shards")}
    # One distributed table: a task's shard group is its shard, now on the target.
    assert [(r["status"], r["planned_bytes"], r["moved_bytes"]) for r in after] == \
           [("done", sizes[r["shardid"]], sizes[r["shardid"]]) for r in after]
