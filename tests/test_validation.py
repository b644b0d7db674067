"""Scheduled validation on real servers: a healthy chain passes under writes; a changed row on C, a large object
on A (unless its loss is accepted), a stopped WAL receiver and a slot invalidated with rows_removed each fail the
run, named; a report and a chart are written.

The scenarios share one chain and run in file order; the last one breaks the slot for good.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chain_helpers import (
    CaptureFds,
    chain_conf,
    run_dag,
    set_up_chain,
    slot_invalidated_on_b,
    sql,
    task_states,
    wait_c_caught_up,
    wait_for,
)
from sample_data import WriteLoad

from pgshift.common.report import safe_name


@pytest.fixture(scope="module")
def chain(clusters, tmp_path_factory):
    set_up_chain(clusters)
    return tmp_path_factory.mktemp("reports")


def validate(cl, reports: Path, **overrides):
    conf = chain_conf(cl, action="validate", report_dir=str(reports))
    conf.update(overrides)
    with CaptureFds() as out:
        dag_run = run_dag(conf)
    report = json.loads((reports / "validate" / f"{safe_name(dag_run.run_id)}.json").read_text())
    return dag_run, report, out.text


def test_healthy_chain_passes_under_writes(clusters, chain):
    load = WriteLoad(clusters.uri(clusters.a), rate=30).start()
    try:
        dag_run, report, text = validate(clusters, chain)
    finally:
        load.stop()
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", text[-3000:]
    assert states["validate"] == "success"
    assert {states[t] for t in ("preflight", "cutover_gate", "cutover")} == {"skipped"}
    assert report["problems"] == []
    figures = report["figures"]
    assert figures["b_receiver_status"] == "streaming"
    assert figures["slot_wal_status"] == "reserved" and figures["slot_conflicting"] is False
    assert figures["apply_error_count"] == 0
    assert figures["a_physical_slot_retained_bytes"] >= 0 and figures["slot_retained_bytes"] >= 0
    parity = {p["table"]: p for p in report["parity"]}
    assert parity["public.pgbench_history"]["status"] == "skipped"  # no primary key to look rows up by
    for table in ("public.orders", "public.pgbench_accounts", "public.pgbench_branches"):
        assert parity[table]["status"] == "equal", parity[table]
        assert parity[table]["compared"] > 0
    assert (chain / "validate" / "lag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_full_parity_catches_a_row_changed_on_c(clusters, chain):
    original = sql(clusters, clusters.c, "SELECT note FROM orders WHERE id = 11")[0][0]
    sql(clusters, clusters.c, "UPDATE orders SET note = 'changed behind replication' WHERE id = 11")
    try:
        dag_run, report, text = validate(clusters, chain, parity="full")
    finally:
        sql(clusters, clusters.c, "UPDATE orders SET note = %s WHERE id = 11", (original,))
    assert str(dag_run.state) == "failed"
    assert "Validation found 1 problem(s)" in text
    assert "parity (full): public.orders" in text
    assert [p["table"] for p in report["parity"] if p["status"] == "differs"] == ["public.orders"]
    assert all(p["status"] == "equal" for p in report["parity"] if p["table"] != "public.orders")


def test_full_parity_under_writes_compares_b_and_c_at_a_frozen_point(clusters, chain, tmp_path):
    load = WriteLoad(clusters.uri(clusters.a), rate=30).start()
    try:  # (reports of their own: the chart test counts the chain's)
        dag_run, report, text = validate(clusters, tmp_path, parity="full")
    finally:
        load.stop()
    assert str(dag_run.state) == "success", text[-3000:]
    # Every table judged (none "moving"), A not read: B and C held still at one position.
    assert {p["status"] for p in report["parity"]} == {"equal"}
    assert {p["table"] for p in report["parity"]} >= {"public.orders", "public.pgbench_history"}
    frozen = [n for n in report["notes"] if "frozen position" in n]
    assert frozen and "B's replay resumed; A not read" in frozen[0], report["notes"]
    assert sql(clusters, clusters.b, "SELECT pg_get_wal_replay_pause_state()") == [("not paused",)]


def test_a_replay_paused_by_a_dba_stays_paused(clusters, chain, tmp_path):
    wait_c_caught_up(clusters)
    sql(clusters, clusters.b, "SELECT pg_wal_replay_pause()")
    try:
        wait_for(lambda: sql(clusters, clusters.b, "SELECT pg_get_wal_replay_pause_state()")[0][0] == "paused", 10,
                 what="B's replay to pause")
        _, report, _ = validate(clusters, tmp_path, parity="full")
        state = sql(clusters, clusters.b, "SELECT pg_get_wal_replay_pause_state()")[0][0]
    finally:
        sql(clusters, clusters.b, "SELECT pg_wal_replay_resume()")
    assert state == "paused"
    assert any("left paused, as it was before" in n for n in report["notes"]), report["notes"]
    assert {p["status"] for p in report["parity"]} == {"equal"}


def test_large_object_on_a_is_named_unless_its_loss_is_accepted(clusters, chain, tmp_path):
    sql(clusters, clusters.a, "SELECT lo_create(0)")
    try:  # (reports of their own: the chart test counts the chain's)
        refused, report, text = validate(clusters, tmp_path, parity="off")
        accepted, accepted_report, accepted_text = validate(clusters, tmp_path, parity="off",
                                                            accept_large_object_loss=True)
    finally:
        sql(clusters, clusters.a, "SELECT lo_unlink(oid) FROM pg_largeobject_metadata")
    assert str(refused.state) == "failed"
    assert "A has 1 large object(s); logical replication does not carry them" in text
    assert report["preflight"]["not_replicated"]["large_objects"] == 1
    assert str(accepted.state) == "success", accepted_text[-3000:]
    assert accepted_report["preflight"]["not_replicated"]["large_objects_not_migrated"] is True
    assert any("A has 1 large object(s); they are not migrated" in n for n in accepted_report["notes"])


def test_stopped_wal_receiver_is_named(clusters, chain):
    conninfo = sql(clusters, clusters.b, "SHOW primary_conninfo")[0][0]
    sql(clusters, clusters.b, "ALTER SYSTEM SET primary_conninfo = ''")
    sql(clusters, clusters.b, "SELECT pg_reload_conf()")
    try:
        wait_for(lambda: sql(clusters, clusters.b, "SELECT count(*) FROM pg_stat_wal_receiver")[0][0] == 0, 30,
                 what="B's WAL receiver to stop")
        dag_run, report, text = validate(clusters, chain)
    finally:
        sql(clusters, clusters.b, "ALTER SYSTEM SET primary_conninfo = %s", (conninfo,))
        sql(clusters, clusters.b, "SELECT pg_reload_conf()")
    assert str(dag_run.state) == "failed"
    assert "A -> B: no walsender on A is using slot 'pgshift_b_physical' (B is not connected); " \
           "B's WAL receiver is not running" in text
    assert report["figures"]["b_receiver_status"] is None
    assert "parity not checked: replication is not healthy, so C is expected to differ" in report["notes"]
    wait_c_caught_up(clusters)


def test_invalidated_slot_is_named(clusters, chain):
    with slot_invalidated_on_b(clusters, "pgshift_c_logical"):
        dag_run, report, text = validate(clusters, chain)
    assert str(dag_run.state) == "failed"
    assert "logical slot 'pgshift_c_logical' on B is invalidated" in text
    assert "invalidation_reason=rows_removed" in text
    assert report["figures"]["slot_invalidation_reason"] == "rows_removed"
    assert report["figures"]["slot_conflicting"] is True
    # The chart covers every validation run so far, the failed ones too.
    reports = sorted((chain / "validate").glob("*.json"))
    assert len(reports) == 4
    assert (chain / "validate" / "lag.png").stat().st_size > 1000
