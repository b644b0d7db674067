"""The clone contract (Citus 13.2 snapshot-based node addition, transcripts F_*), field by field.

As in test_citus_emulation_contract.py: with the emulation this checks the emulation, with
CITUS_TEST_DSN a real cluster (then CITUS_TEST_CLONE_COMMAND and friends, see citus_helpers.RealCluster).
The new worker (9703 in the transcripts) is rebuilt as a streaming standby of the first worker (9701).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from citus_helpers import CitusCluster, recorded_size_strategy, wait_for
from test_citus_emulation_contract import Nodes, calls, recorded_error, recorded_notices, run

NODE_COLUMNS = "nodeid, groupid, nodename, nodeport, isactive, noderole, hasmetadata, metadatasynced, " \
               "shouldhaveshards, nodeisclone, nodeprimarynodeid"


def call(name: str, sql_start: str, nth: int = 0) -> dict[str, Any]:
    """The ``nth`` recorded call of ``name`` whose SQL starts with ``sql_start``."""
    return [c for c in calls(name) if c["sql"].startswith(sql_start)][nth]


def ids(text: str | None) -> str | None:
    """Node ids differ between clusters: compared as '#'."""
    return None if text is None else re.sub(r"(\(ID |\(nodeid |node id |ID )\d+", r"\1#", text)


def same_error(nodes: Nodes, outcome: dict[str, Any], recorded: dict[str, Any]) -> None:
    expected = recorded_error(recorded)
    got = outcome.get("error")
    assert got is not None, (recorded["sql"], outcome)
    assert {k: ids(got[k]) for k in got} == {k: ids(nodes.text(v) if isinstance(v, str) else v)
                                             for k, v in expected.items()}, recorded["sql"]


def same_notices(nodes: Nodes, outcome: dict[str, Any], recorded: dict[str, Any]) -> None:
    assert [ids(n) for n in outcome["notices"]] == [ids(nodes.text(n)) for n in recorded_notices(recorded)], \
        recorded["sql"]


@pytest.fixture
def clone(citus: CitusCluster):
    """The new worker rebuilt as a streaming standby of the first worker (F_03); restored afterwards."""
    if not citus.can_clone:
        pytest.skip("no way to rebuild a node as a standby (real cluster: CITUS_TEST_CLONE_COMMAND & co.)")
    nodes = Nodes(citus)
    citus.clone_node(nodes.map[9701], nodes.map[9703])
    wait_for(lambda: citus.sql("SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'",
                               node=nodes.map[9703]), 60, 0.1, "the clone streaming")
    yield nodes
    citus.restore_node(nodes.map[9703])


def node_row(citus: CitusCluster, node) -> dict[str, Any]:
    return citus.sql(f"SELECT {NODE_COLUMNS} FROM pg_dist_node WHERE nodename = %s AND nodeport = %s",
                     (node.host, node.port))[0]


def recorded_node(nodes: Nodes, row: dict[str, Any]) -> dict[str, Any]:
    mapped = nodes.map[row["nodeport"]]
    return {**{k: row[k] for k in NODE_COLUMNS.split(", ")}, "nodename": mapped.host, "nodeport": mapped.port}


# ---------------------------------------------------------------- catalog
def test_clone_functions_signatures_comments_and_acl(citus):
    signatures, comments, columns, roles = calls("F_00_versions_and_clone_function_signatures.json")[1:5]
    assert run(citus, signatures["sql"])["rows"] == signatures["rows"]
    user = citus.value("SELECT current_user")
    assert [{k: r[k] for k in ("regprocedure", "comment", "acl")} for r in run(citus, comments["sql"])["rows"]] == \
           [{**{k: r[k] for k in ("regprocedure", "comment")}, "acl": r["acl"].replace("postgres", user)}
            for r in comments["rows"]]
    assert run(citus, columns["sql"])["columns"] == [{"name": c["name"], "type": c["type"]} for c in columns["columns"]]
    assert run(citus, roles["sql"])["rows"] == roles["rows"]


# ---------------------------------------------------------------- errors before any clone exists
def test_errors_before_a_clone_exists_change_nothing(citus):
    """F_02 on the coordinator: every refusal with Citus's SQLSTATE, message, DETAIL and HINT."""
    nodes = Nodes(citus)
    before = citus.sql("SELECT * FROM pg_dist_node ORDER BY nodeid")
    for recorded in calls("F_02_errors_before_clone_exists.json"):
        if recorded["ok"] or recorded["node"] != "127.0.0.1:9700":
            continue  # on a worker: the emulation keeps no metadata there (docs/citus.md, known differences)
        same_error(nodes, run(citus, nodes.sql(recorded["sql"])), recorded)
    assert citus.sql("SELECT * FROM pg_dist_node ORDER BY nodeid") == before


# ---------------------------------------------------------------- registering a clone
def test_a_standby_is_registered_as_an_inactive_clone_idempotently(citus, clone):
    nodes = clone
    probe = call("F_03_build_streaming_clone_of_9701.json", "CREATE TABLE f_probe")
    assert run(citus, probe["sql"], node=nodes.map[9703])["error"] == recorded_error(probe)
    active_before = citus.sql("SELECT * FROM citus_get_active_worker_nodes() ORDER BY node_port")

    added = call("F_04_add_clone_node.json", "SELECT citus_add_clone_node(")
    outcome = run(citus, nodes.sql(added["sql"]))
    same_notices(nodes, outcome, added)
    clone_id = outcome["rows"][0]["citus_add_clone_node"]
    recorded_row = next(r for r in call("F_04_add_clone_node.json", "SELECT * FROM pg_dist_node")["rows"]
                        if r["nodeport"] == 9703)
    expected = recorded_node(nodes, recorded_row)
    got = node_row(citus, nodes.map[9703])
    primary_id = node_row(citus, nodes.map[9701])["nodeid"]
    assert {**got, "nodeid": 0, "groupid": 0} == {**expected, "nodeid": 0, "groupid": 0,
                                                  "nodeprimarynodeid": primary_id}
    assert got["nodeid"] == clone_id
    assert citus.sql("SELECT * FROM citus_get_active_worker_nodes() ORDER BY node_port") == active_before

    for sql_start in ("SELECT citus_add_clone_node(", "SELECT citus_add_clone_node_with_nodeid("):
        recorded = call("F_04_add_clone_node.json", sql_start, 1 if "node(" in sql_start else 0)
        again = run(citus, nodes.sql(recorded["sql"]).replace(", 2)", f", {primary_id})"))
        same_notices(nodes, again, recorded)
        assert list(again["rows"][0].values()) == [clone_id]
    other = call("F_04_add_clone_node.json", "SELECT citus_add_clone_node(", 2)
    same_error(nodes, run(citus, nodes.sql(other["sql"])), other)
    assert citus.value(nodes.sql(call("F_04_add_clone_node.json", "SELECT citus_add_node(")["sql"])) == clone_id
    assert run(citus, "SELECT * FROM get_rebalance_table_shards_plan()")["rows"] == []  # an inactive clone is ignored

    removal = call("F_04_add_clone_node.json", "SELECT citus_remove_clone_node(")
    conn = citus.connect()
    try:
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute(nodes.sql(removal["sql"]))
        assert [ids(n.strip()) for n in conn.notices] == [ids(nodes.text(n)) for n in recorded_notices(removal)]
        conn.rollback()
    finally:
        conn.close()
    assert node_row(citus, nodes.map[9703]) == got


# ---------------------------------------------------------------- the split plan
def test_the_split_plan_reproduces_the_recorded_split(citus, clone):
    """F_05: by_shard_count as recorded; the default strategy from F_01's recorded sizes (a strategy whose
    cost is each shard's recorded size plus by_disk_size's base cost), shard for shard."""
    nodes = clone
    citus.sql(nodes.sql(call("F_04_add_clone_node.json", "SELECT citus_add_clone_node(")["sql"]))
    first = citus.value("SELECT min(shardid) FROM pg_dist_shard WHERE logicalrelid = 'orders'::regclass")
    by_count = call("F_05_split_plan.json", "SELECT * FROM get_snapshot_based_node_split_plan", 1)
    plan = run(citus, nodes.sql(by_count["sql"]))
    assert plan["columns"] == [{"name": c["name"], "type": c["type"]} for c in by_count["columns"]]

    def shape(rows: list[dict[str, Any]], base: int) -> list[tuple[int, int, str]]:
        return [(r["shardid"] - base, r["shard_size"], r["placement_node"]) for r in rows]

    assert shape(plan["rows"], first) == shape(by_count["rows"], 102008)

    sizes = [r["shard_size"] for r in call("F_01_before_nodes_and_shards.json", "SELECT * FROM citus_shards")["rows"]]
    with recorded_size_strategy(citus, sizes) as strategy:
        default = call("F_05_split_plan.json", "SELECT * FROM get_snapshot_based_node_split_plan", 0)
        plan = run(citus, nodes.sql(default["sql"]).replace("9703)", f"9703, '{strategy}')")
                   .replace(f"{nodes.map[9703].port})", f"{nodes.map[9703].port}, '{strategy}')"))
        assert shape(plan["rows"], first) == shape(default["rows"], 102008)
    for recorded in calls("F_05_split_plan.json"):
        if not recorded["ok"]:
            same_error(nodes, run(citus, nodes.sql(recorded["sql"])), recorded)


# ---------------------------------------------------------------- promotion
def test_promotion_splits_the_shards_and_leaves_the_rest_to_cleanup(citus, clone):
    """F_06 and F_07: timeout 0 fails before pg_promote(); then the promotion, its notices, the
    metadata, placements 8/16/8, the deferred drops, the node writable; every later clone call refused."""
    nodes = clone
    rows_before = citus.value("SELECT count(*) FROM orders")
    clone_id = citus.value(nodes.sql(call("F_04_add_clone_node.json", "SELECT citus_add_clone_node(")["sql"]))
    timeout0 = call("F_06_promote_clone_and_rebalance.json", "SELECT citus_promote_clone_and_rebalance(4, catchup")
    outcome = run(citus, timeout0["sql"].replace("(4,", f"({clone_id},"))
    same_error(nodes, outcome, timeout0)
    same_notices(nodes, outcome, timeout0)
    assert citus.value("SELECT pg_is_in_recovery()", node=nodes.map[9703]) is True
    assert node_row(citus, nodes.map[9703])["nodeisclone"] is True

    promote = call("F_06_promote_clone_and_rebalance.json", "SELECT citus_promote_clone_and_rebalance(4)")
    outcome = run(citus, promote["sql"].replace("(4)", f"({clone_id})"))
    assert outcome["rows"] == promote["rows"]
    same_notices(nodes, outcome, promote)

    recorded_nodes = call("F_06_promote_clone_and_rebalance.json", "SELECT * FROM pg_dist_node")["rows"]
    assert {**node_row(citus, nodes.map[9703]), "nodeid": 0, "groupid": 0} == \
           {**recorded_node(nodes, recorded_nodes[-1]), "nodeid": 0, "groupid": 0}
    counts = citus.shard_counts()
    assert [counts.get(str(nodes.map[p]), 0) for p in (9701, 9702, 9703)] == [8, 16, 8]
    assert citus.value("SELECT count(*) FROM orders") == rows_before
    assert citus.value("SELECT pg_is_in_recovery()", node=nodes.map[9703]) is False
    assert citus.sql("SELECT * FROM pg_dist_background_job") == []
    cleanup = citus.sql("SELECT object_type, policy_type, node_group_id FROM pg_dist_cleanup ORDER BY record_id")
    recorded_cleanup = call("F_06_promote_clone_and_rebalance.json", "SELECT * FROM pg_dist_cleanup", 1)["rows"]
    groups = {nodes.map[p].port: g for p, g in ((9701, None), (9703, None))}
    for port in groups:
        groups[port] = citus.value("SELECT groupid FROM pg_dist_node WHERE nodeport = %s AND nodename = %s",
                                   (port, nodes.map[9701 if port == nodes.map[9701].port else 9703].host))
    recorded_groups = {1: groups[nodes.map[9701].port], 3: groups[nodes.map[9703].port]}
    assert cleanup == [{"object_type": r["object_type"], "policy_type": r["policy_type"],
                        "node_group_id": recorded_groups[r["node_group_id"]]} for r in recorded_cleanup]
    plan_after = citus.sql("SELECT * FROM get_rebalance_table_shards_plan()")
    recorded_plan = call("F_06_promote_clone_and_rebalance.json", "SELECT * FROM get_rebalance_table_shards_plan")
    assert len(plan_after) == len(recorded_plan["rows"]) == 5
    assert {r["sourceport"] for r in plan_after} == {nodes.map[9702].port}

    # The maintenance daemon's deferred drops, done at once: each side keeps only its own 8 shards.
    citus.sql("CALL citus_cleanup_orphaned_resources()")
    assert citus.sql("SELECT * FROM pg_dist_cleanup") == []
    for port in (9701, 9703):
        names = {r["shard_name"] for r in citus.sql("SELECT shard_name FROM citus_shards WHERE nodeport = %s "
                                                    "AND nodename = %s", (nodes.map[port].port, nodes.map[port].host))}
        present = {r["relname"] for r in citus.sql("SELECT relname FROM pg_class WHERE relname ~ '^orders_[0-9]+$' "
                                                   "AND relkind = 'r'", node=nodes.map[port])}
        assert present == names and len(names) == 8

    # F_07: writes through the coordinator land on the promoted node; every clone call is refused now.
    def rows_on_clone() -> int:
        return sum(citus.value(f'SELECT count(*) FROM "{name}"', node=nodes.map[9703]) for name in names)

    stored = rows_on_clone()
    citus.sql("INSERT INTO orders (shard_key, n) SELECT k, -k FROM generate_series(1000001, 1000100) k")
    assert rows_on_clone() > stored
    assert citus.value("SELECT count(*) FROM orders") == rows_before + 100
    for recorded in calls("F_07_after_promote_queries_and_errors.json"):
        if not recorded["ok"]:
            sql = nodes.sql(recorded["sql"]).replace("(4)", f"({clone_id})")
            same_error(nodes, run(citus, sql), recorded)


def test_a_bad_strategy_is_found_only_after_pg_promote(citus, clone):
    """F_10: the strategy is resolved after pg_promote(): a standalone primary stays registered as an
    inactive clone; a retry finds it not replicating; citus_remove_clone_node is the way out."""
    nodes = clone
    before = citus.sql("SELECT * FROM pg_dist_node ORDER BY nodeid")
    recorded = calls("F_10_promote_bad_strategy_after_pg_promote.json")
    clone_id = citus.value(nodes.sql(recorded[0]["sql"]))
    for r in recorded[1:]:
        if r["node"] == "127.0.0.1:9703":
            if r["sql"].startswith("SELECT pg_is_in_recovery"):
                assert citus.value(r["sql"], node=nodes.map[9703]) is False
            continue
        if not (r["sql"].startswith("SELECT citus_") or r["sql"].startswith("SELECT * FROM pg_dist_node")):
            continue
        outcome = run(citus, nodes.sql(r["sql"]).replace("(4", f"({clone_id}"))
        if r["ok"] and r["sql"].startswith("SELECT * FROM pg_dist_node"):
            assert [recorded_node(nodes, x) | {"nodeid": 0, "groupid": 0, "nodeprimarynodeid": 0} for x in r["rows"]] \
                   == [{k: x[k] for k in NODE_COLUMNS.split(", ")} | {"nodeid": 0, "groupid": 0, "nodeprimarynodeid": 0}
                       for x in outcome["rows"]], r["note"]
        elif r["ok"]:
            same_notices(nodes, outcome, r)
        else:
            same_error(nodes, outcome, r)
            if "no_such_strategy" in r["sql"]:
                same_notices(nodes, outcome, r)
    assert citus.sql("SELECT * FROM pg_dist_node ORDER BY nodeid") == before


# ---------------------------------------------------------------- the move phases real Citus reports
def test_a_move_reports_the_final_catchup_phase(citus):
    """Citus 13.2's moves go Setting Up, Copying Data, Catching Up, Final Catchup, Completing, Completed."""
    nodes = Nodes(citus)
    citus.tune(move_seconds=1.5)
    citus.sql(nodes.sql(calls("A_09_add_node_9703.json")[0]["sql"]))
    citus.sql("SELECT citus_rebalance_start()")
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "Completed" not in seen:
        for row in citus.sql("SELECT DISTINCT status FROM get_rebalance_progress()"):
            if not seen or seen[-1] != row["status"]:
                seen.append(row["status"])
        time.sleep(0.01)
    citus.sql("SELECT citus_rebalance_stop()")
    order = ["Setting Up", "Copying Data", "Catching Up", "Final Catchup", "Completing", "Completed"]
    assert "Final Catchup" in seen, seen
    assert [s for s in order if s in seen] == [s for s in dict.fromkeys(seen) if s in order]
