"""The cutover's verify=delta on real servers (pgshift.migration.verify.delta): every row checked before the fence at
frozen points
of B's replay, and inside the fence only the rows written since, A against C.

- a row changed on C before the first frozen point is caught there: refused before the fence, A untouched;
- a change that reaches C different from A after the last frozen point (a trigger on C enabled ALWAYS) is caught
  inside the fence: rolled back, A unfenced;
- a pre-verification that overruns max_replay_pause_seconds, and one that fails, leave B's replay running; a replay
  a DBA paused is refused at once and left paused;
- the forecast refuses before the fence, with its figures;
- a table without a primary key changed after the last frozen point is checked whole and named, a key change,
  a delete and rows of a partitioned table (decoded under their partitions' names) are checked by key, and a
  session busy on C since the first frozen point is named.

"After the last frozen point" is made exact by running the test's write inside the cutover task, right before the
gate's final reading (which follows the pre-verification and precedes the fence). One chain, file order; the last
test finishes the migration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest
from chain_helpers import (
    CaptureFds,
    app_can_log_in,
    chain_conf,
    fingerprint,
    run_dag,
    set_up_chain,
    sql,
    task_states,
    user_tables,
    wait_c_caught_up,
)
from pgcluster import DATABASE

from pgshift.migration.switchover.cutover.phases import CutoverRun

DELETED: list[dict] = []  # the row the last test deletes on A, put back afterwards
REWRITE_ON_C = """
CREATE FUNCTION pgshift_test_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.note = 'rewrite me' THEN NEW.amount := NEW.amount + 1; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER pgshift_test_rewrite BEFORE INSERT OR UPDATE ON orders FOR EACH ROW
    EXECUTE FUNCTION pgshift_test_rewrite();
ALTER TABLE orders ENABLE ALWAYS TRIGGER pgshift_test_rewrite;
"""


PARTITIONED_ON_A = """
CREATE TABLE pgshift_test_events (id int, day date, what text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE pgshift_test_events_2026 PARTITION OF pgshift_test_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE pgshift_test_events_2027 PARTITION OF pgshift_test_events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
INSERT INTO pgshift_test_events SELECT g, '2026-06-01'::date + g, 'e' FROM generate_series(1, 100) g;
"""


@pytest.fixture(scope="module")
def chain(clusters, tmp_path_factory):
    clusters.reset_chain()
    sql(clusters, clusters.a, "DROP TABLE IF EXISTS pgshift_test_events")
    sql(clusters, clusters.a, PARTITIONED_ON_A)  # logical decoding names its changes by partition
    set_up_chain(clusters)
    yield tmp_path_factory.mktemp("reports")
    sql(clusters, clusters.c, "DROP TRIGGER IF EXISTS pgshift_test_rewrite ON orders; "
                              "DROP FUNCTION IF EXISTS pgshift_test_rewrite()")
    clusters.unfence_a()
    sql(clusters, clusters.a, "DROP TABLE pgshift_test_events")
    # A is shared with the next modules: the key change and the delete of the last test undone.
    sql(clusters, clusters.a, "UPDATE orders SET id = id - 1000000 WHERE id > 1000000")
    if DELETED:
        sql(clusters, clusters.a, "INSERT INTO orders SELECT * FROM json_populate_record(NULL::orders, %s)",
            (json.dumps(DELETED[0]),))


def cutover(cl, reports: Path, **overrides):
    conf = {"action": "cutover", "app_roles": ["app"], "dry_run": False, "gate_readings": 2,
            "gate_interval_seconds": 0.2, "report_dir": str(reports), **overrides}
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(cl, **conf))
    return dag_run, out.text


def report_of(reports: Path, dag_run) -> dict:
    from pgshift.common.report import safe_name

    return json.loads((reports / "cutover" / safe_name(dag_run.run_id) / "report.json").read_text())


def after_last_frozen_point(monkeypatch, action: Callable[[], None]) -> None:
    """``action`` runs inside the cutover task after the pre-verification, right before the fence."""
    original = CutoverRun.gate

    def gate(self, spec):
        action()
        return original(self, spec)

    monkeypatch.setattr(CutoverRun, "gate", gate)


def a_untouched(cl) -> bool:
    settings = sql(cl, cl.a, "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d "
                             "ON d.oid = s.setdatabase WHERE d.datname = %s", (DATABASE,))
    return app_can_log_in(cl) and settings == []


def b_left_running(cl) -> tuple[str, list]:
    """B's replay state and any verification slot left on B."""
    return (sql(cl, cl.b, "SELECT pg_get_wal_replay_pause_state()")[0][0],
            sql(cl, cl.b, "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE '%%_verify'"))


def test_a_row_changed_on_c_before_the_frozen_point_is_refused_before_the_fence(clusters, chain):
    original = sql(clusters, clusters.c, "SELECT note FROM orders WHERE id = 7")[0][0]
    sql(clusters, clusters.c, "UPDATE orders SET note = 'changed behind replication' WHERE id = 7")
    try:
        dag_run, out = cutover(clusters, chain)
    finally:
        sql(clusters, clusters.c, "UPDATE orders SET note = %s WHERE id = 7", (original,))
    assert str(dag_run.state) == "failed" and task_states(dag_run)["cutover"] == "failed"
    assert "refused before the fence, A was not touched: B and C differ at B's frozen position" in out
    assert "in 1 table(s): public.orders" in out
    assert a_untouched(clusters)
    report = report_of(chain, dag_run)
    assert report["status"] == "failed" and "fenced" not in report["timeline"], report
    assert [t["table"] for t in report["tables"] if t["status"] == "differs"] == ["public.orders"]
    assert report["verify"]["replay_resumed"] is True
    assert b_left_running(clusters) == ("not paused", [])


def test_a_change_reaching_c_different_after_the_frozen_point_is_caught_inside_the_fence(clusters, chain, monkeypatch):
    sql(clusters, clusters.c, REWRITE_ON_C)
    after_last_frozen_point(monkeypatch, lambda: sql(
        clusters, clusters.a, "INSERT INTO orders (customer, amount, note) VALUES (1, 5, 'rewrite me')"))
    try:
        dag_run, out = cutover(clusters, chain)
    finally:
        sql(clusters, clusters.c, "DROP TRIGGER pgshift_test_rewrite ON orders; DROP FUNCTION pgshift_test_rewrite()")
        sql(clusters, clusters.a, "DELETE FROM orders WHERE note = 'rewrite me'")
    assert str(dag_run.state) == "failed"
    assert "Cutover failed after the fence and was rolled back: A is unfenced" in out
    assert "parity mismatch A vs C in 1 table(s): public.orders: 0 changed rows missing on the target, " \
           "0 only on the target, 1 different" in out
    assert a_untouched(clusters)
    report = report_of(chain, dag_run)
    assert report["status"] == "rolled back" and "fenced" in report["timeline"]
    inside = report["verify"]["inside_fence"]
    assert [(t["table"], t["status"]) for t in inside["tables"]] == [("public.orders", "differs")], inside
    assert all(t["status"] == "equal" for t in report["tables"])  # the frozen point before it was right
    assert b_left_running(clusters) == ("not paused", [])


def test_a_pre_verification_that_overruns_its_pause_resumes_b(clusters, chain):
    wait_c_caught_up(clusters)
    blocker = psycopg2.connect(clusters.uri(clusters.c))
    try:
        with blocker.cursor() as cur:  # C's fingerprint of orders waits behind this lock
            cur.execute("LOCK TABLE orders IN ACCESS SHARE MODE; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        dag_run, out = cutover(clusters, chain, max_replay_pause_seconds=1)
        running_while_locked = b_left_running(clusters)[0]
    finally:
        blocker.rollback()
        blocker.close()
    assert str(dag_run.state) == "failed"
    assert "refused before the fence, A was not touched: the full check at " in out
    assert "overran the 1 s B may stand still: replay resumed, nothing judged" in out
    assert running_while_locked == "not paused"
    assert a_untouched(clusters)
    assert report_of(chain, dag_run)["verify"]["replay_resumed"] is True


def test_a_replay_paused_by_a_dba_is_refused_at_once_and_left_paused(clusters, chain):
    sql(clusters, clusters.b, "SELECT pg_wal_replay_pause()")
    try:
        dag_run, out = cutover(clusters, chain, wal_lag_max_seconds=3600, wal_lag_max_bytes=2**30)
        state = b_left_running(clusters)
    finally:
        sql(clusters, clusters.b, "SELECT pg_wal_replay_resume()")
    assert str(dag_run.state) == "failed"
    assert "refused before the fence, A was not touched: B's replay is paused (someone ran pg_wal_replay_pause())" \
        in out
    assert state == ("paused", [])  # the DBA's pause is theirs to lift; no slot was made
    assert a_untouched(clusters)


def test_the_forecast_refuses_before_the_fence_with_its_figures(clusters, chain):
    dag_run, out = cutover(clusters, chain, max_write_downtime_seconds=0.001)
    assert str(dag_run.state) == "failed"
    assert "refused before the fence, A was not touched: predicted write downtime " in out
    assert "over max_write_downtime_seconds=0.001" in out and "drain ~" in out and "other phases ~" in out
    assert a_untouched(clusters)
    report = report_of(chain, dag_run)
    forecast = report["verify"]["forecast"]
    assert forecast["seconds"] > 0.001 and forecast["max_write_downtime_seconds"] == 0.001, forecast
    assert "fenced" not in report["timeline"]
    assert b_left_running(clusters) == ("not paused", [])


def test_changes_after_the_frozen_point_are_verified_and_other_sessions_on_c_named(clusters, chain, monkeypatch):
    console = psycopg2.connect(clusters.uri(clusters.c), application_name="dba-console")
    console.autocommit = True
    top = sql(clusters, clusters.a, "SELECT max(id) FROM orders")[0][0]
    DELETED.append(sql(clusters, clusters.a, "SELECT row_to_json(o) FROM orders o WHERE id = 3")[0][0])

    def writes() -> None:
        sql(clusters, clusters.a, "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
                                  "VALUES (1, 1, 1, 42, now()); "
                                  "UPDATE orders SET id = id + 1000000 WHERE id = %s; DELETE FROM orders WHERE id = 3; "
                                  "INSERT INTO pgshift_test_events VALUES (1000, '2027-03-01', 'new'); "
                                  "UPDATE pgshift_test_events SET what = 'changed' WHERE id = 5", (top,))
        with console.cursor() as cur:  # a DBA's session on C, busy since the first frozen point
            cur.execute("SELECT 1")

    after_last_frozen_point(monkeypatch, writes)
    try:
        dag_run, out = cutover(clusters, chain)
        assert str(dag_run.state) == "success", out[-3000:]
    finally:
        console.close()
    report = report_of(chain, dag_run)
    verify = report["verify"]
    inside = verify["inside_fence"]
    assert inside["tables_whole"] == {"public.pgbench_history": "no primary key"}, inside
    assert "public.orders" in inside["tables_by_key"] and inside["keys"] >= 5, inside  # old key, new key, deleted
    # Changes named by their partitions, verified on the partitioned table:
    assert "public.pgshift_test_events" in inside["tables_by_key"] and not inside["tables_outside"], inside
    whole = [t for t in inside["tables"] if t["table"] == "public.pgbench_history"]
    assert [(t["status"], t["note"]) for t in whole] == [("equal", "checked whole: no primary key")], inside
    assert verify["rows_verified_inside_fence"] >= inside["keys"] + whole[0]["source_rows"]
    assert [(s["role"], s["application_name"]) for s in verify["other_sessions_on_c"]] == [
        ("postgres", "dba-console")], verify
    for table in user_tables(clusters, clusters.a):
        assert fingerprint(clusters, clusters.a, table) == fingerprint(clusters, clusters.c, table), table
    assert sql(clusters, clusters.c, "SELECT count(*) FROM orders WHERE id IN (3, %s)", (top,)) == [(0,)]
    assert sql(clusters, clusters.c, "SELECT count(*) FROM orders WHERE id = %s", (top + 1000000,)) == [(1,)]
    assert b_left_running(clusters) == ("not paused", [])
