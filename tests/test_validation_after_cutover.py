"""Validation after a cutover, on real servers: with the way back armed, a validation with no conf checks C -> A
(the slot on C, the lag, A's subscription, sampled parity C vs A) instead of skipping, and names a stopped
reverse subscription; a record whose way back fell back or finished still skips, saying why.

The way back is armed by hand here, as the cutover arms it (a publication and a logical slot on C, a subscription
on A with create_slot = false, copy_data = false, origin = none), and the record is marked cut over in its
Variable, so these tests do not depend on the cutover's own arming.
The scenarios share one chain and run in file order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException
from chain_helpers import CaptureFds, chain_conf, run_dag, sql, task_states, wait_c_caught_up, wait_for
from pgcluster import C_REPLICATION_ROLE, LocalClusters

from pgshift.common.report import safe_name
from pgshift.migration import configuration

DAG_ID = "hybrid_aurora_migration"
PUBLICATION, SUBSCRIPTION = "pgshift_fallback_pub", "pgshift_fallback"  # the DAG's defaults
CUT_OVER = {"at": "2026-11-28T16:00:00+00:00", "by_run": "manual__cutover_by_hand"}


def recorded() -> dict[str, Any]:
    from airflow.models import Variable

    return json.loads(Variable.get(configuration.variable_key(DAG_ID)))


def mark(record: dict[str, Any], fallback: dict[str, Any] | None) -> None:
    """The record as publish_migration leaves it after a cutover (configuration.save_record's Variable; that
    function reaches Variables through a task's supervisor, so the test writes the same JSON directly)."""
    from airflow.models import Variable

    Variable.set(configuration.variable_key(DAG_ID), {**record, "cut_over": CUT_OVER, "fallback": fallback},
                 serialize_json=True)


def arm_by_hand(cl: LocalClusters) -> None:
    """The cutover's end state by hand: C's subscription to B gone, the way back C -> A armed."""
    sql(cl, cl.c, "ALTER SUBSCRIPTION pgshift_sub DISABLE")
    sql(cl, cl.c, "ALTER SUBSCRIPTION pgshift_sub SET (slot_name = NONE)")
    sql(cl, cl.c, "DROP SUBSCRIPTION pgshift_sub")
    sql(cl, cl.c, f"CREATE PUBLICATION {PUBLICATION} FOR ALL TABLES")
    sql(cl, cl.c, "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (SUBSCRIPTION,))
    sql(cl, cl.a, f"CREATE SUBSCRIPTION {SUBSCRIPTION} CONNECTION %s PUBLICATION {PUBLICATION} "
                  f"WITH (create_slot = false, slot_name = '{SUBSCRIPTION}', copy_data = false, origin = none)",
        (cl.uri(cl.c, C_REPLICATION_ROLE),))  # as the cutover does: conn_c_subscription, which may stream from C


def disarm(cl: LocalClusters) -> None:
    for (name,) in sql(cl, cl.a, "SELECT subname FROM pg_subscription WHERE subname = %s", (SUBSCRIPTION,)):
        sql(cl, cl.a, f"ALTER SUBSCRIPTION {name} DISABLE")
        sql(cl, cl.a, f"ALTER SUBSCRIPTION {name} SET (slot_name = NONE)")
        sql(cl, cl.a, f"DROP SUBSCRIPTION {name}")
    wait_for(lambda: not sql(cl, cl.c, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s AND active",
                             (SUBSCRIPTION,)), 30, what="the way back's slot on C to be released")
    sql(cl, cl.c, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
        (SUBSCRIPTION,))
    sql(cl, cl.c, f"DROP PUBLICATION IF EXISTS {PUBLICATION}")


def wait_a_caught_up(cl: LocalClusters, timeout: float = 60) -> None:
    target = sql(cl, cl.c, "SELECT pg_current_wal_lsn()::text")[0][0]
    wait_for(lambda: sql(cl, cl.c, "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                                   "WHERE slot_name = %s", (target, SUBSCRIPTION))[0][0],
             timeout, what="A confirming C's position")


@pytest.fixture(scope="module")
def chain(clusters: LocalClusters, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A chain set up by the DAG (its report directory recorded), then cut over and armed by hand."""
    reports = tmp_path_factory.mktemp("reports")
    clusters.reset_chain()
    sql(clusters, clusters.a, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app; "
                              "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO app")
    dag_run = run_dag(chain_conf(clusters, report_dir=str(reports)))
    assert str(dag_run.state) == "success", task_states(dag_run)
    wait_c_caught_up(clusters)
    dag_run, report, text = validate_recorded(reports)  # the chain, before the cutover: the chart's first point
    assert str(dag_run.state) == "success" and report is not None and report["direction"] == "A -> B -> C", \
        text[-3000:]
    arm_by_hand(clusters)
    record = recorded()
    mark(record, {"armed": True, "state": "armed"})
    yield reports
    disarm(clusters)
    clusters.reset_chain()


def validate_recorded(reports: Path) -> tuple[Any, dict[str, Any] | None, str]:
    """A validation with no conf (what the schedule runs), its report (None if it wrote none) and its log."""
    with CaptureFds() as out:
        dag_run = run_dag({})
    path = reports / "validate" / f"{safe_name(dag_run.run_id)}.json"
    return dag_run, json.loads(path.read_text()) if path.exists() else None, out.text


def test_validation_after_cutover_checks_the_way_back(clusters: LocalClusters, chain: Path) -> None:
    # The application writes on C after the cutover; the way back carries it to A.
    sql(clusters, clusters.c, "INSERT INTO orders (id, customer, amount, note) "
                              "SELECT 900000 + g, g, g * 1.5, 'written on C' FROM generate_series(1, 50) g")
    sql(clusters, clusters.c, "UPDATE orders SET note = 'updated on C' WHERE id <= 20")
    wait_a_caught_up(clusters)
    dag_run, report, text = validate_recorded(chain)
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", text[-3000:]
    assert states["configuration"] == "success" and states["validate"] == "success"
    assert report is not None and report["problems"] == []
    assert report["direction"] == "C -> A (the way back)"
    assert f"the chain was cut over to C at {CUT_OVER['at']} by run {CUT_OVER['by_run']}: the way back C -> A " \
           "is checked" in report["notes"]
    figures = report["figures"]
    assert isinstance(figures["c_to_a_lag_bytes"], int) and figures["c_to_a_lag_bytes"] >= 0
    assert figures["reverse_slot_active"] is True and figures["reverse_slot_wal_status"] == "reserved"
    assert figures["reverse_slot_retained_bytes"] >= 0
    assert figures["reverse_subscription_enabled"] is True and figures["reverse_apply_worker_pid"]
    assert (figures["reverse_apply_error_count"], figures["reverse_sync_error_count"]) == (0, 0)
    assert "a_to_b_lag_bytes" not in figures and "b_to_c_lag_bytes" not in figures  # the chain is not checked
    parity = {p["table"]: p for p in report["parity"]}
    assert parity["public.orders"]["status"] == "equal" and parity["public.orders"]["compared"] > 0
    assert "sampled rows equal on C and A" in parity["public.orders"]["note"]
    assert parity["public.pgbench_history"]["status"] == "skipped"  # no primary key to look rows up by
    assert sql(clusters, clusters.a, "SELECT count(*) FROM orders WHERE note = 'updated on C'") == [(20,)]
    # The lag chart goes on: it reads c_to_a_lag_bytes from this report beside the chain's earlier figures.
    assert (chain / "validate" / "lag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_row_changed_on_a_behind_the_way_back_is_named(clusters: LocalClusters, chain: Path) -> None:
    filler = sql(clusters, clusters.c, "SELECT filler FROM pgbench_branches WHERE bid = 1")[0][0]
    sql(clusters, clusters.a, "UPDATE pgbench_branches SET filler = 'changed on A behind the way back' WHERE bid = 1")
    try:
        dag_run, report, text = validate_recorded(chain)
    finally:
        sql(clusters, clusters.a, "UPDATE pgbench_branches SET filler = %s WHERE bid = 1", (filler,))
    assert str(dag_run.state) == "failed"
    assert "Validation found 1 problem(s)" in text
    assert "parity (sample, C vs A): public.pgbench_branches: 0 of 1 sampled rows missing on A, 1 different " \
           "(differs on A: {'bid': 1})" in text
    assert report is not None
    assert [p["table"] for p in report["parity"] if p["status"] == "differs"] == ["public.pgbench_branches"]
    assert next(p for p in report["parity"] if p["table"] == "public.pgbench_branches")["different_on_a"] == 1


def test_a_stopped_reverse_subscription_is_named(clusters: LocalClusters, chain: Path) -> None:
    sql(clusters, clusters.a, f"ALTER SUBSCRIPTION {SUBSCRIPTION} DISABLE")
    try:
        wait_for(lambda: not sql(clusters, clusters.c, "SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                                 (SUBSCRIPTION,))[0][0], 30, what="A's walsender on C to stop")
        sql(clusters, clusters.c, "INSERT INTO orders (id, customer, amount) VALUES (990001, 1, 1)")
        dag_run, report, text = validate_recorded(chain)
    finally:
        sql(clusters, clusters.a, f"ALTER SUBSCRIPTION {SUBSCRIPTION} ENABLE")
    assert str(dag_run.state) == "failed"
    assert task_states(dag_run)["validate"] == "failed"
    assert "reverse subscription pgshift_fallback on A is stopped: it is disabled" in text
    assert "ALTER SUBSCRIPTION pgshift_fallback ENABLE on A" in text
    assert "nothing is consuming the way back's slot 'pgshift_fallback' on C (inactive)" in text
    assert report is not None
    assert report["figures"]["reverse_subscription_enabled"] is False
    assert report["figures"]["reverse_slot_active"] is False
    assert report["figures"]["c_to_a_lag_bytes"] > 0  # C's insert has not reached A
    assert "parity not checked: the way back (C -> A) is not healthy, so A is expected to differ" in report["notes"]
    assert report["parity"] == []
    wait_a_caught_up(clusters)
    assert sql(clusters, clusters.a, "SELECT count(*) FROM orders WHERE id = 990001") == [(1,)]


def test_an_apply_error_on_a_is_named_as_current(clusters: LocalClusters, chain: Path) -> None:
    # A row on A that C's insert collides with: A's apply worker fails on it, and is retried every 5 s.
    sql(clusters, clusters.a, "INSERT INTO orders (id, customer, amount) VALUES (990100, 1, 1)")
    try:
        sql(clusters, clusters.c, "INSERT INTO orders (id, customer, amount) VALUES (990100, 2, 2)")
        wait_for(lambda: sql(clusters, clusters.a, "SELECT apply_error_count FROM pg_stat_subscription_stats "
                                                   "WHERE subname = %s", (SUBSCRIPTION,))[0][0] > 0,
                 30, what="A's apply worker to fail")
        dag_run, report, text = validate_recorded(chain)
    finally:
        sql(clusters, clusters.a, "DELETE FROM orders WHERE id = 990100")
    assert str(dag_run.state) == "failed" and "Validation found" in text
    assert report is not None and report["figures"]["reverse_apply_error_count"] > 0
    named = [p for p in report["problems"] if p.startswith("reverse subscription pgshift_fallback on A")]
    assert named, report["problems"]
    assert "is stopped: no apply worker runs" in named[0] or "apply error is current on A" in named[0], named
    assert "see A's server log" in named[0]
    assert report["figures"]["reverse_subscription_errors"] in ("current", "unknown")
    wait_a_caught_up(clusters)  # the row gone from A, the retried apply goes through
    assert sql(clusters, clusters.a, "SELECT customer FROM orders WHERE id = 990100") == [(2,)]


def orange_pixels(png: Path) -> int:
    """Pixels of the C -> A series' colour (tab:orange) in a chart."""
    import matplotlib.image

    image = matplotlib.image.imread(str(png))[..., :3]
    return int((abs(image - (1.0, 0x7F / 255, 0x0E / 255)).max(axis=-1) < 0.02).sum())


def test_the_lag_chart_goes_on_with_the_way_back(chain: Path, tmp_path: Path) -> None:
    from pgshift.common.chart import lag_chart
    from pgshift.common.report import read_reports

    reports = read_reports(chain / "validate", 48)
    before = [r for r in reports if r.get("direction") == "A -> B -> C"]
    after = [r for r in reports if r.get("direction") == "C -> A (the way back)"]
    assert len(before) == 1 and len(after) == 4 and len(reports) == 5  # the chain's run, then the four above
    assert before[0]["figures"]["b_to_c_lag_bytes"] is not None
    assert all(r["figures"]["c_to_a_lag_bytes"] is not None for r in after)
    # The validation's own chart holds the C -> A series (orange); a chart of the chain's run alone does not.
    assert orange_pixels(chain / "validate" / "lag.png") > 50
    assert orange_pixels(lag_chart(before, tmp_path / "before.png")) == 0


@pytest.mark.parametrize(("fallback", "words"), [
    ({"armed": True, "state": "fallen back"}, "and fell back: production is back on A; nothing to validate; "
                                              "run setup to start a new chain"),
    ({"armed": True, "state": "finished"}, "nothing to validate; pause the DAG or run setup for a new chain"),
    ({"armed": False, "state": "armed"}, "nothing to validate; pause the DAG or run setup for a new chain"),
    (None, "nothing to validate; pause the DAG or run setup for a new chain"),
])
def test_a_way_back_not_armed_skips_the_validation(fallback: dict[str, Any] | None, words: str) -> None:
    record = {"recorded_at": "t", "recorded_by_run": "r", "configuration": {}, "cut_over": CUT_OVER,
              "fallback": fallback}
    effective = configuration.merge(DAG_ID, "validate", {}, record, {})
    with pytest.raises(AirflowSkipException) as skipped:
        configuration.check_chain(effective, "validate")
    assert str(skipped.value).startswith(f"the chain was cut over to C at {CUT_OVER['at']} by run {CUT_OVER['by_run']}")
    assert words in str(skipped.value)
    armed = {**record, "fallback": {"armed": True, "state": "armed"}}
    configuration.check_chain(configuration.merge(DAG_ID, "validate", {}, armed, {}), "validate")  # runs


def test_a_fallen_back_chain_skips_a_scheduled_validation(clusters: LocalClusters, chain: Path) -> None:
    record = recorded()
    mark(record, {"armed": True, "state": "fallen back"})
    try:
        dag_run, report, text = validate_recorded(chain)
    finally:
        mark(record, {"armed": True, "state": "armed"})
    states = task_states(dag_run)
    assert str(dag_run.state) == "success"
    assert {states[t] for t in ("configuration", "choose_action", "validate")} == {"skipped"}
    assert report is None
    assert "production is back on A; nothing to validate; run setup to start a new chain" in text
