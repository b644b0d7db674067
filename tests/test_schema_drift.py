"""Schema drift on real servers: A's and C's catalogs compared for the migrated scope.

One chain, set up once with tables of the test's own (an enum column, a serial and an identity column, a default
calling a function, a check, a unique constraint, a foreign key, an index, a trigger, a view), read in file order:
the chain as set up has no difference; changes made on A (a column added, a column dropped, an enum value, an index,
a table, a sequence, a constraint, a view) are each named with its kind and the statement; validation reports them
as problems; the cutover, its dry run and its gate refuse before the fence with A untouched; and the statements, run
and validation with ``ddl=apply_additive`` (the default) makes the additive ones on C under writes: the apply worker
they had stopped goes on, the new table's rows are copied, no row is lost; the destructive one stays a problem. The
last test finishes the migration: a table created on A while the application writes, healed by validation, is
verified by a real cutover like every other table, its sequence set on C.
"""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import psycopg2
import pytest
from airflow.sdk.exceptions import AirflowFailException
from chain_helpers import (
    NAMES,
    CaptureFds,
    app_can_log_in,
    chain_conf,
    chain_config,
    fingerprint,
    run_dag,
    set_up_chain,
    sql,
    task_states,
    user_tables,
    wait_c_caught_up,
    wait_for,
)
from pgcluster import DATABASE
from testing_support import log_excerpt

from pgshift.common.report import safe_name

OBJECTS = """
CREATE TYPE drift_mood AS ENUM ('low', 'high');
CREATE FUNCTION drift_code() RETURNS text LANGUAGE sql AS $$SELECT 'c'$$;
CREATE FUNCTION drift_touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.changed := now(); RETURN NEW; END$$;
CREATE TABLE drift_parent (id bigint PRIMARY KEY);
CREATE TABLE drift_probe (
    id bigserial PRIMARY KEY,
    parent bigint REFERENCES drift_parent (id),
    mood drift_mood NOT NULL DEFAULT 'low',
    code text DEFAULT drift_code(),
    amount numeric(10, 2) CHECK (amount >= 0),
    gone text,
    changed timestamptz,
    "Odd Name" int GENERATED ALWAYS AS IDENTITY,
    UNIQUE (id, mood));
CREATE INDEX drift_probe_changed ON drift_probe (changed);
CREATE TRIGGER drift_probe_touch BEFORE INSERT OR UPDATE ON drift_probe FOR EACH ROW EXECUTE FUNCTION drift_touch();
CREATE VIEW drift_view AS SELECT id, mood FROM drift_probe;
INSERT INTO drift_parent VALUES (1);
INSERT INTO drift_probe (parent, amount, gone) VALUES (1, 1.5, 'g');
"""
CHANGES_ON_A = [
    "ALTER TABLE drift_probe ADD COLUMN note text DEFAULT 'x' NOT NULL",
    "ALTER TABLE drift_probe DROP COLUMN gone",
    "ALTER TYPE drift_mood ADD VALUE 'calm' AFTER 'low'",
    "CREATE INDEX drift_probe_amount ON drift_probe (amount)",
    "CREATE TABLE drift_new (id int PRIMARY KEY, label text NOT NULL)",
    "CREATE SEQUENCE drift_numbers START 100",
    "ALTER TABLE drift_probe ADD CONSTRAINT drift_probe_amount_small CHECK (amount < 1000000)",
    "CREATE VIEW drift_moods AS SELECT mood, count(*) AS n FROM drift_probe GROUP BY mood",
]
# Created while the application writes (the last test): a serial key, so that its sequence is made on C too.
LATE_TABLE = ("CREATE TABLE drift_late (id bigserial PRIMARY KEY, written int NOT NULL); "
              "GRANT SELECT, INSERT ON drift_late TO app; GRANT USAGE ON SEQUENCE drift_late_id_seq TO app")
CLEAN_UP = ("DROP VIEW IF EXISTS drift_view, drift_moods; "
            "DROP TABLE IF EXISTS drift_probe, drift_parent, drift_new, drift_late; "
            "DROP SEQUENCE IF EXISTS drift_numbers, drift_late_id_seq; DROP TYPE IF EXISTS drift_mood; "
            "DROP FUNCTION IF EXISTS drift_code(), drift_touch()")


@pytest.fixture(scope="module")
def chain(clusters, tmp_path_factory):
    cl = clusters
    sql(cl, cl.a, CLEAN_UP)
    sql(cl, cl.a, OBJECTS)
    set_up_chain(cl)  # grants role app its rights on every table, ours too
    yield tmp_path_factory.mktemp("reports")
    cl.unfence_a()
    for node in (cl.a, cl.c):
        sql(cl, node, CLEAN_UP)


def drift_of(cl, **overrides):
    from pgshift.migration.schema.drift import chain_drift

    return chain_drift(chain_config(cl, **overrides))


def test_the_chain_as_set_up_has_no_drift(clusters, chain):
    cl = clusters
    found = drift_of(cl)
    assert list(found) == [None]
    report = found[None].as_report()
    assert report["differences"] == [] and report["ok"] is True, report
    on_a = sql(cl, cl.a, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0]
    assert report["tables_compared"] == on_a
    # The chain of named databases compares each database's part: here the one.
    assert {db: d.ok for db, d in drift_of(cl, databases=[DATABASE]).items()} == {DATABASE: True}


def test_a_table_locked_on_c_does_not_hold_the_comparison_up(clusters, chain):
    """The comparison runs before the fence: a session holding a table of C must not make it wait."""
    cl = clusters
    blocker = psycopg2.connect(cl.uri(cl.c))
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE drift_probe, drift_parent IN ACCESS EXCLUSIVE MODE")
        release = threading.Timer(15, blocker.rollback)
        release.start()
        started = time.monotonic()
        found = drift_of(cl)[None]
        took = time.monotonic() - started
        release.cancel()
    finally:
        blocker.close()
    assert found.ok, [d.describe() for d in found.differences]
    assert took < 10, f"the comparison waited {took:.1f} s for the lock"


def test_changes_on_a_are_named_with_their_statement_and_validation_reports_them(clusters, chain):
    cl = clusters
    for statement in CHANGES_ON_A:
        sql(cl, cl.a, statement)
    found = drift_of(cl)[None]
    kinds = {d.object: d.kind for d in found.differences}
    assert kinds == {
        "column public.drift_probe.note": "additive",
        "column public.drift_probe.gone": "destructive",
        "enum public.drift_mood value 'calm'": "additive",
        "index public.drift_probe_amount": "additive",
        "table public.drift_new": "additive",
        "constraint public.drift_new.drift_new_pkey": "additive",
        "sequence public.drift_numbers": "additive",
        "constraint public.drift_probe.drift_probe_amount_small": "additive",
        "view public.drift_moods": "additive",
    }, [d.describe() for d in found.differences]
    ddl = {d.object: d.ddl for d in found.differences}
    assert ddl["column public.drift_probe.note"] == \
        "ALTER TABLE public.drift_probe ADD COLUMN note text DEFAULT 'x'::text NOT NULL"
    assert ddl["column public.drift_probe.gone"] == "ALTER TABLE public.drift_probe DROP COLUMN gone"
    assert ddl["enum public.drift_mood value 'calm'"] == "ALTER TYPE public.drift_mood ADD VALUE 'calm' AFTER 'low'"
    assert ddl["table public.drift_new"] == "CREATE TABLE public.drift_new (id integer NOT NULL, label text NOT NULL)"
    objects = [d.object for d in found.differences]  # in the order the statements apply
    assert objects.index("table public.drift_new") < objects.index("constraint public.drift_new.drift_new_pkey")

    # ddl=report: validation names every difference as a problem and runs nothing on C.
    report = validate(cl, chain, ddl="report")
    assert report["schema_drift"]["differences"] == [d.as_dict() for d in found.differences]
    assert report["schema_drift"]["additive"] == 8 and report["schema_drift"]["destructive"] == 1
    assert "healed" not in report["schema_drift"]
    for d in found.differences:
        assert f"schema drift: {d.describe()}" in report["problems"], report["problems"]
    assert drift_of(cl)[None].differences == found.differences

    # DMS mode with ddl=apply_additive (the default): reported only, with a note saying so; nothing run on C.
    from pgshift.migration.operators.validate import ValidateChainOperator
    from pgshift.migration.validation.chain import DMS_REPORTS_ONLY
    from pgshift.migration.validation.section import Section

    section = Section(None)
    dms = ValidateChainOperator(task_id="validate", config=chain_config(cl, mode="dms"))
    dms_report = dms._schema_drift(dms.chain, section)
    assert dms_report is not None and "healed" not in dms_report
    assert dms_report["differences"] == report["schema_drift"]["differences"]
    assert section.notes == [DMS_REPORTS_ONLY]
    assert DMS_REPORTS_ONLY.startswith("schema drift is reported only in DMS mode, not healed")
    assert drift_of(cl)[None].differences == found.differences


def validate(cl, reports, *, fails: bool = True, **overrides) -> dict:
    """A validation run (no parity: the schemas are what is looked at); ``fails``: it fails, C differing from A
    (False: its outcome is not judged, e.g. an apply error the healing has just fixed may still be counted)."""
    dag_run = run_dag(chain_conf(cl, action="validate", report_dir=str(reports), parity="off", **overrides))
    assert not fails or str(dag_run.state) == "failed", task_states(dag_run)
    return json.loads((reports / "validate" / f"{safe_name(dag_run.run_id)}.json").read_text())


def test_the_cutover_its_dry_run_and_its_gate_refuse_before_the_fence(clusters, chain):
    from pgshift.migration.operators.cutover import CutoverGateOperator, CutoverOperator

    cl = clusters
    note = "ALTER TABLE public.drift_probe ADD COLUMN note text DEFAULT 'x'::text NOT NULL"
    for dry_run in (False, True):
        run_id = f"manual__drift_{dry_run}"
        op = CutoverOperator(task_id="cutover", config=chain_config(cl, mode="native", app_roles=["app"],
                                                                    dry_run=dry_run, report_dir=str(chain)))
        with pytest.raises(AirflowFailException) as refused:
            op.execute({"run_id": run_id, "dag": SimpleNamespace(dag_id="hybrid_aurora_migration")})
        message = str(refused.value)
        assert "refused before the fence, A was not touched" in message, message
        assert f"schema drift: column public.drift_probe.note: on A, not on C (additive): {note}" in message
        assert "column public.drift_probe.gone: on C, not on A" in message
        report = json.loads((chain / "cutover" / safe_name(run_id) / "report.json").read_text())
        assert report["status"] == "failed" and report["schema_drift"]["ok"] is False
        assert "fenced" not in report["timeline"], report["timeline"]
        assert_a_untouched(cl)

    # A chain of named databases: the same refusal, naming the database.
    op = CutoverOperator(task_id="cutover", config=chain_config(cl, mode="native", app_roles=["app"], dry_run=False,
                                                                databases=[DATABASE], report_dir=str(chain)))
    with pytest.raises(AirflowFailException, match="refused before the fence, A was not touched") as refused:
        op.execute({"run_id": "manual__drift_set", "dag": SimpleNamespace(dag_id="hybrid_aurora_migration")})
    assert f"database {DATABASE}: schema drift: column public.drift_probe.note" in str(refused.value)
    assert_a_untouched(cl)

    gate = CutoverGateOperator(task_id="cutover_gate", config=chain_config(
        cl, mode="native", app_roles=["app"], gate_readings=1, gate_interval_seconds=0.2, gate_window_seconds=30))
    with pytest.raises(AirflowFailException, match="Cutover refused before the fence; A was not touched") as refused:
        gate.execute({})
    assert note in str(refused.value)


def assert_a_untouched(cl) -> None:
    """A as before: no database setting (no read-only default, no fence marker), and role app logs in and writes."""
    assert sql(cl, cl.a, "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                         "WHERE d.datname = %s", (DATABASE,)) == []
    assert app_can_log_in(cl)
    conn = psycopg2.connect(cl.uri(cl.a, user="app"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO drift_parent VALUES (2) ON CONFLICT DO NOTHING")
    finally:
        conn.close()


class Writer:
    """Rows written on A, one of each ``statements`` (``%s``: the count) every few milliseconds, as ``user`` (None:
    the superuser), until stopped; a statement appended to ``statements`` is written from then on."""

    def __init__(self, cl, statements: list[str], user: str | None = None) -> None:
        self.cl, self.statements, self.user = cl, statements, user
        self.written, self.errors, self._stop = 0, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = psycopg2.connect(self.cl.uri(self.cl.a, user=self.user) if self.user else self.cl.uri(self.cl.a))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not self._stop.is_set():
                    self.written += 1
                    for statement in list(self.statements):
                        cur.execute(statement, (self.written,))
                    time.sleep(0.02)
        except psycopg2.Error as exc:
            self.errors.append(str(exc))
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def wait_copied(cl) -> None:
    """Until the tables the subscription was refreshed for are copied; each table-sync worker's slot on B waits for
    a running-xacts record from A: one is logged each poll rather than waited for (up to 15 s)."""
    def copied() -> bool:
        sql(cl, cl.a, "SELECT pg_log_standby_snapshot()")
        return sql(cl, cl.c, "SELECT bool_and(srsubstate = 'r') FROM pg_subscription_rel")[0][0]

    wait_for(copied, 60, what="the new tables' copy to be ready")


def test_validation_heals_the_additive_changes_under_writes_with_no_row_lost(clusters, chain):
    cl = clusters
    errors = "SELECT apply_error_count FROM pg_stat_subscription_stats WHERE subname = %s"
    before = sql(cl, cl.c, errors, (NAMES["subscription"],))[0][0]
    writer = Writer(cl, ["INSERT INTO drift_probe (parent, amount, note) VALUES (1, %s, 'under writes')",
                         "INSERT INTO drift_new VALUES (%s, 'new')"])
    try:
        wait_for(lambda: sql(cl, cl.c, errors, (NAMES["subscription"],))[0][0] > before, 30,
                 what="C's apply worker to stop on what C lacks")
        additive = [d for d in drift_of(cl)[None].differences if d.kind == "additive"]
        report = validate(cl, chain)  # ddl=apply_additive, the default
        written = writer.written
        wait_for(lambda: writer.written > written + 20, what="writes on A after the healing")
    finally:
        writer.stop()
    assert writer.errors == []
    healed = report["schema_drift"]["healed"]
    assert [d["object"] for d in healed["applied"]] == [d.object for d in additive]
    assert healed["failed"] is None and healed["refreshed_subscription"] is True
    # What is left is the destructive difference, a problem still: it is never run.
    assert [(d["object"], d["kind"]) for d in report["schema_drift"]["differences"]] == \
        [("column public.drift_probe.gone", "destructive")]
    assert any(p.startswith("schema drift: column public.drift_probe.gone") for p in report["problems"])
    assert any(n.startswith("schema drift healed on C: column public.drift_probe.note") for n in report["notes"])

    # Every row written on A is on C, in both tables.
    wait_c_caught_up(cl)
    wait_copied(cl)
    wait_c_caught_up(cl)
    for table, columns in (("drift_probe", "id, mood, amount, note"), ("drift_new", "id, label")):
        query = f"SELECT count(*), coalesce(sum(hashtextextended(({columns})::text, 0)), 0)::text FROM {table}"
        on_a = sql(cl, cl.a, query)
        assert sql(cl, cl.c, query) == on_a, table
        assert on_a[0][0] > writer.written // 2, (table, on_a)

    # The dropped column alone blocks the gate, its readings in bounds (the apply errors the healing fixed are past:
    # their counters cleared, as the subscription check's hint says, rather than judged by a second sample).
    from pgshift.migration.operators.cutover import CutoverGateOperator

    sql(cl, cl.c, "SELECT pg_stat_reset_subscription_stats(oid) FROM pg_subscription")
    gate = CutoverGateOperator(task_id="cutover_gate", config=chain_config(
        cl, mode="native", app_roles=["app"], gate_readings=1, gate_interval_seconds=0.2, gate_window_seconds=30))
    with pytest.raises(AirflowFailException, match="Cutover refused before the fence; A was not touched") as refused:
        gate.execute({})
    assert "schema drift: column public.drift_probe.gone: on C, not on A (dropped or renamed on A?) (destructive)" \
        in str(refused.value) and "drift_probe.note" not in str(refused.value)

    # The destructive difference's statement, run on C by a person, leaves no difference.
    for difference in drift_of(cl)[None].differences:
        sql(cl, cl.c, difference.ddl)
    assert drift_of(cl)[None].ok


def test_a_table_created_under_writes_is_healed_and_verified_at_the_cutover(clusters, chain, monkeypatch):
    """A table created on A while the application writes to it: its first rows reach no table on C (the apply worker
    stops on them, the slot keeps them); validation makes it on C with its sequence and refreshes the subscription;
    then a real cutover (verify=delta) verifies it like every other table, at the first frozen point and inside the
    fence, and sets its sequence on C. Finishes the migration."""
    from pgshift.migration.switchover.cutover.phases import CutoverRun

    cl = clusters
    assert drift_of(cl)[None].ok  # the previous test left C matching A
    statements = ["INSERT INTO drift_probe (parent, amount, note) VALUES (1, %s, 'app')"]
    writer = Writer(cl, statements, user="app")  # the application's role: the fence ends its session
    late_on_a = "SELECT count(*) FROM drift_late"
    try:
        wait_for(lambda: writer.written > 10, 30, what="the application writing on A")
        sql(cl, cl.a, LATE_TABLE)
        statements.append("INSERT INTO drift_late (written) VALUES (%s)")
        wait_for(lambda: sql(cl, cl.a, late_on_a)[0][0] > 20, 30, what="rows in the new table on A")
        report = validate(cl, chain, fails=False)
        healed = report["schema_drift"]["healed"]
        applied = [d["object"] for d in healed["applied"]]
        assert applied == ["sequence public.drift_late_id_seq", "table public.drift_late",
                           "sequence owner public.drift_late_id_seq", "constraint public.drift_late.drift_late_pkey"], \
            healed
        assert healed["refreshed_subscription"] is True and report["schema_drift"]["differences"] == []
        # Owned by its column on C too: a chain of named tables finds the sequence through its owner.
        assert drift_of(cl, tables=["public.drift_late"])[None].ok
        wait_copied(cl)
        # The apply errors the new table caused are past: cleared, as the subscription check's hint says once the
        # cause is fixed (else each gate reading takes a second sample to judge them).
        sql(cl, cl.c, "SELECT pg_stat_reset_subscription_stats(oid) FROM pg_subscription")
        original = CutoverRun.gate

        def gate(self, spec):  # a row in the new table after the pre-verification's last frozen point
            sql(cl, cl.a, "INSERT INTO drift_late (written) VALUES (-1)")
            return original(self, spec)

        monkeypatch.setattr(CutoverRun, "gate", gate)
        with CaptureFds() as out:
            dag_run = run_dag(chain_conf(cl, action="cutover", app_roles=["app"], dry_run=False, gate_readings=2,
                                         gate_interval_seconds=0.2, report_dir=str(chain)))
    finally:
        writer.stop()
    assert str(dag_run.state) == "success", log_excerpt(out.text)
    # The fence ended the application's session (its error says so, or the connection just closed).
    assert any("terminating connection" in e or "closed the connection" in e for e in writer.errors), writer.errors
    report = json.loads((chain / "cutover" / safe_name(dag_run.run_id) / "report.json").read_text())
    assert report["status"] == "ready" and report["schema_drift"]["ok"] is True
    tables = user_tables(cl, cl.a)
    assert "public.drift_late" in tables
    # At the first frozen point, every table equal on B and C, the new one too.
    assert {t["table"]: t["status"] for t in report["tables"]} == dict.fromkeys(tables, "equal"), report["tables"]
    inside = report["verify"]["inside_fence"]  # the rows written since the last frozen point, A against C
    assert "public.drift_late" in inside["tables_by_key"] and not inside["tables_outside"], inside
    assert all(t["status"] == "equal" for t in inside["tables"]), inside
    for table in tables:
        assert fingerprint(cl, cl.a, table) == fingerprint(cl, cl.c, table), table
    assert sql(cl, cl.c, "SELECT count(*) FROM drift_late WHERE written = -1") == [(1,)]
    # Its sequence set on C from A: the application, logging in to C now, goes on from A's last value.
    (last_on_a,) = sql(cl, cl.a, "SELECT last_value FROM drift_late_id_seq")[0]
    assert {s["sequence"]: s["action"] for s in report["sequences"]}["public.drift_late_id_seq"] == "set"
    conn = psycopg2.connect(cl.uri(cl.c, user="app"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO drift_late (written) VALUES (0) RETURNING id")
            assert cur.fetchone() == (last_on_a + 1,)
    finally:
        conn.close()
