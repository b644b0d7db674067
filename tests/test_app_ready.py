"""C ready for the application, on real servers: the roles, their passwords, owners, grants, default privileges
and row-level security reach C; a grant made on A after setup is applied in the cutover; a privilege revoked on
C behind pgshift's back fails the verify step and A is unfenced; after the cutover every role logs in to C with
its original password and can do exactly what it could on A.

One chain for the module, in file order; the last test finishes the migration.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg2
import pytest
from chain_helpers import CaptureFds, app_can_log_in, chain_conf, run_dag, set_up_chain, sql, task_states
from pgcluster import DATABASE
from testing_support import assert_run_succeeded

ROLES = ("ledger_owner", "readers", "alice", "colreader", "late_reader")
LOGIN_ROLES = ("ledger_owner", "alice", "colreader")
PASSWORDS = {r: secrets.token_urlsafe(12) for r in (*LOGIN_ROLES, "late_reader")}
SETUP_ON_A = """
CREATE ROLE ledger_owner LOGIN PASSWORD %(ledger_owner)s;
CREATE ROLE readers NOLOGIN;
CREATE ROLE alice LOGIN PASSWORD %(alice)s IN ROLE readers;
CREATE ROLE colreader LOGIN PASSWORD %(colreader)s;
CREATE SCHEMA ledger AUTHORIZATION ledger_owner;
GRANT USAGE ON SCHEMA ledger TO readers, colreader, replicator;
SET ROLE ledger_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA ledger GRANT SELECT ON TABLES TO readers;
CREATE TABLE ledger.entries (id bigint PRIMARY KEY, account text NOT NULL, amount numeric NOT NULL, memo text);
INSERT INTO ledger.entries SELECT g, CASE WHEN g %% 2 = 0 THEN 'alice' ELSE 'bob' END, g, 'm'
FROM generate_series(1, 100) g;
GRANT SELECT (id, account) ON ledger.entries TO colreader;
GRANT SELECT ON ledger.entries TO replicator;
ALTER TABLE ledger.entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger.entries FORCE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON ledger.entries FOR SELECT TO readers USING (account = current_user);
CREATE POLICY owner_all ON ledger.entries TO ledger_owner USING (true);
CREATE MATERIALIZED VIEW ledger.totals AS SELECT account, sum(amount) AS amount FROM ledger.entries GROUP BY account;
RESET ROLE;
ALTER ROLE replicator BYPASSRLS;
ALTER ROLE alice SET search_path = ledger, "$user", public;
ALTER ROLE colreader IN DATABASE {database} SET statement_timeout = '5min';
"""
# What each role tries: allowed or denied on A must be allowed or denied on C, and return the same.
PROBES = {
    "alice": ["SELECT count(*) FROM ledger.entries", "SELECT count(*) FROM public.pgbench_accounts",
              "UPDATE ledger.entries SET memo = memo WHERE id = 2"],
    "colreader": ["SELECT count(id) FROM ledger.entries", "SELECT count(amount) FROM ledger.entries",
                  "UPDATE ledger.entries SET memo = 'x' WHERE false",
                  "UPDATE ledger.entries SET amount = 0 WHERE false"],
    "ledger_owner": ["SELECT count(*) FROM ledger.entries", "UPDATE ledger.entries SET memo = 'x' WHERE id = 1",
                     "SELECT count(*) FROM public.orders", "SELECT sum(amount) FROM ledger.totals"],
    "app": ["INSERT INTO public.orders (customer, amount) VALUES (1, 1)", "SELECT count(*) FROM ledger.entries",
            "SELECT count(*) FROM public.pgbench_branches"],
}


def _drop_everything(cl) -> None:
    for node in (cl.a, cl.c):
        sql(cl, node, "DROP SCHEMA IF EXISTS ledger CASCADE")
        for role in ROLES:
            if sql(cl, node, "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
                sql(cl, node, f"DROP OWNED BY {role} CASCADE")
                sql(cl, node, f"DROP ROLE {role}")
    sql(cl, cl.a, "ALTER ROLE replicator NOBYPASSRLS")
    sql(cl, cl.a, "SELECT lo_unlink(oid) FROM pg_largeobject_metadata")


@pytest.fixture(scope="module")
def chain(clusters, tmp_path_factory):
    cl = clusters
    cl.reset_chain()
    _drop_everything(cl)
    sql(cl, cl.a, SETUP_ON_A.replace("{database}", DATABASE), PASSWORDS)
    os.environ["AIRFLOW_CONN_PGSHIFT_C_ALICE"] = (f"postgresql://alice:{_quoted(PASSWORDS['alice'])}@127.0.0.1:"
                                                  f"{cl.c.port}/{DATABASE}")
    set_up_chain(cl)
    yield tmp_path_factory.mktemp("reports")
    os.environ.pop("AIRFLOW_CONN_PGSHIFT_C_ALICE", None)
    cl.unfence_a()
    sql(cl, cl.a, "ALTER ROLE alice LOGIN")
    cl.reset_chain()
    _drop_everything(cl)


def _quoted(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def cutover_conf(cl, reports: Path, **overrides):
    return chain_conf(cl, **{"action": "cutover", "app_roles": ["app", "alice"], "dry_run": False,
                             "gate_readings": 2, "gate_interval_seconds": 0.2, "report_dir": str(reports),
                             "app_role_connections": {"alice": "pgshift_c_alice"}, **overrides})


def connect_c(cl, role: str):
    password = cl.passwords()["app"] if role == "app" else PASSWORDS[role]
    return psycopg2.connect(host="127.0.0.1", port=cl.c.port, dbname=DATABASE, user=role, password=password)


def outcome(cur, statement: str) -> str:
    """What a statement did: its first value (or the row count), or the SQLSTATE that refused it."""
    cur.execute("SAVEPOINT probe")
    try:
        cur.execute(statement)
        result = str(cur.fetchone()[0]) if cur.description else f"{cur.rowcount} rows"
    except psycopg2.Error as exc:
        result = f"refused {exc.pgcode}"
    cur.execute("ROLLBACK TO SAVEPOINT probe")
    return result


def on_a_as(cl, role: str, statements: list[str]) -> list[str]:
    """The statements as ``role`` on A, through SET ROLE (A is fenced: nobody logs in), rolled back."""
    with psycopg2.connect(cl.uri(cl.a)) as conn, conn.cursor() as cur:
        cur.execute("SET TRANSACTION READ WRITE")
        cur.execute(f"SET LOCAL ROLE {role}")
        out = [outcome(cur, s) for s in statements]
        conn.rollback()
    return out


def on_c_as(cl, role: str, statements: list[str]) -> list[str]:
    """The statements as ``role`` logged in to C with its original password, rolled back."""
    conn = connect_c(cl, role)
    try:
        with conn.cursor() as cur:
            out = [outcome(cur, s) for s in statements]
        conn.rollback()
    finally:
        conn.close()
    return out


def test_setup_creates_the_roles_on_c_without_login(clusters, chain):
    cl = clusters
    on_c = dict(sql(cl, cl.c, "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s)",
                    (["app", "replicator", *ROLES],)))
    assert on_c == {"app": False, "replicator": False, "ledger_owner": False, "readers": False, "alice": False,
                    "colreader": False}
    assert sql(cl, cl.c, "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                         "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'alice'") == [("readers",)]
    assert sql(cl, cl.c, "SELECT relowner::regrole::text, relrowsecurity, relforcerowsecurity FROM pg_class "
                         "WHERE oid = 'ledger.entries'::regclass") == [("ledger_owner", True, False)]
    assert {r[0] for r in sql(cl, cl.c, "SELECT polname FROM pg_policy WHERE polrelid = 'ledger.entries'::regclass")} \
        == {"owner_all", "own_rows"}
    assert sql(cl, cl.c, "SELECT has_column_privilege('colreader', 'ledger.entries', 'account', 'SELECT'), "
                         "has_column_privilege('colreader', 'ledger.entries', 'amount', 'SELECT')") == [(True, False)]
    assert sql(cl, cl.c, "SELECT count(*) FROM ledger.entries") == [(100,)]  # replicated under RLS, nothing lost
    settings = ("SELECT r.rolname, s.setdatabase <> 0, s.setconfig FROM pg_db_role_setting s "
                "JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = ANY(%s) ORDER BY 1")
    assert sql(cl, cl.c, settings, (list(ROLES),)) == sql(cl, cl.a, settings, (list(ROLES),)) == [
        ("alice", False, ['search_path=ledger, "$user", public']), ("colreader", True, ["statement_timeout=5min"])]
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        connect_c(cl, "alice")
    # Nothing changed behind pgshift's back: the validation finds no drift (FORCE RLS, deferred, is not one).
    with CaptureFds() as out:
        validation = run_dag(chain_conf(cl, action="validate", report_dir=str(chain)))
    assert_run_succeeded(validation, out.text)


def test_a_dry_run_names_an_app_role_c_does_not_have_yet(clusters, chain):
    cl = clusters
    sql(cl, cl.a, "CREATE ROLE newcomer LOGIN PASSWORD 'x'; GRANT SELECT ON public.orders TO newcomer")
    try:
        with CaptureFds() as out:
            dag_run = run_dag(cutover_conf(cl, chain, dry_run=True, app_roles=["app", "newcomer"],
                                           app_role_connections={}))
    finally:
        sql(cl, cl.a, "REVOKE ALL ON public.orders FROM newcomer; DROP ROLE newcomer")
    assert_run_succeeded(dag_run, out.text)
    report = _report(chain, dag_run)
    assert report["status"] == "dry run passed" and report["roles"]["applied"] is False
    assert {"role": "newcomer", "change": "created NOLOGIN"} in report["roles"]["changes"]
    how = {p["role"]: p["how"] for p in report["login_proof"]}
    assert how == {"app": "SET ROLE from pgshift's session",
                   "newcomer": "not on C yet: the cutover creates it and proves it then"}
    assert sql(cl, cl.c, "SELECT 1 FROM pg_roles WHERE rolname = 'newcomer'") == []  # a dry run changes nothing


def test_a_privilege_revoked_on_c_fails_the_verify_and_unfences_a(clusters, chain):
    cl = clusters
    sql(cl, cl.c, "REVOKE INSERT ON public.orders FROM app")
    try:
        # The hourly validation says it first: the cutover would refuse this.
        with CaptureFds() as out:
            validation = run_dag(chain_conf(cl, action="validate", report_dir=str(chain)))
        assert str(validation.state) == "failed", task_states(validation)
        assert "C's privileges were changed behind pgshift's back since setup" in out.text
        assert "acl of table public.orders" in out.text
        with CaptureFds() as out:
            dag_run = run_dag(cutover_conf(cl, chain))
        assert str(dag_run.state) == "failed", task_states(dag_run)
        assert "privileges on C differ from A's" in out.text
        assert "app: table public.orders" in out.text and "INSERT" in out.text
        assert app_can_log_in(cl)
        assert sql(cl, cl.a, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'alice'") == [(True,)]
        assert sql(cl, cl.c, "SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolname = ANY(%s)",
                   (["app", *ROLES],)) == []
        # Not "repaired" behind the DBA's back: C still lacks what was revoked there.
        assert sql(cl, cl.c, "SELECT has_table_privilege('app', 'public.orders', 'INSERT')") == [(False,)]
    finally:
        sql(cl, cl.c, "GRANT INSERT ON public.orders TO app")


def test_a_password_c_does_not_accept_fails_the_login_proof_and_unfences_a(clusters, chain):
    cl = clusters
    os.environ["AIRFLOW_CONN_PGSHIFT_C_ALICE_WRONG"] = (f"postgresql://alice:not-her-password@127.0.0.1:"
                                                        f"{cl.c.port}/{DATABASE}")
    try:
        with CaptureFds() as out:
            dag_run = run_dag(cutover_conf(cl, chain, app_role_connections={"alice": "pgshift_c_alice_wrong"}))
    finally:
        os.environ.pop("AIRFLOW_CONN_PGSHIFT_C_ALICE_WRONG")
    assert str(dag_run.state) == "failed", task_states(dag_run)
    assert "app role alice cannot work on C" in out.text and "password authentication failed" in out.text
    assert app_can_log_in(cl)
    assert sql(cl, cl.c, "SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolname = ANY(%s)",
               (["app", *ROLES],)) == []


def test_cutover_makes_c_ready_for_the_application(clusters, chain):
    cl = clusters
    # After setup, before the cutover: a new grant, and a new member of a migrated group.
    sql(cl, cl.a, "GRANT UPDATE (memo) ON ledger.entries TO colreader")
    sql(cl, cl.a, "CREATE ROLE late_reader LOGIN PASSWORD %s IN ROLE readers", (PASSWORDS["late_reader"],))
    sql(cl, cl.a, "SELECT lo_create(0)")  # (as if accepted at setup: the report says it stays behind)
    with CaptureFds() as out:
        dag_run = run_dag(cutover_conf(cl, chain))
    assert_run_succeeded(dag_run, out.text)
    assert "Privilege parity A = C for alice" in out.text
    # Every role logs in to C with its original password and can do exactly what it could on A.
    for role, statements in PROBES.items():
        assert on_c_as(cl, role, statements) == on_a_as(cl, role, statements), role
    assert on_c_as(cl, "colreader", ["UPDATE ledger.entries SET memo = 'x' WHERE false"]) == ["0 rows"]
    assert on_c_as(cl, "alice", ["SELECT count(*) FROM ledger.entries"]) == ["50"]  # RLS: her rows only
    assert on_c_as(cl, "alice", ["SHOW search_path"]) == ['ledger, "$user", public']  # her ALTER ROLE … SET
    conn = psycopg2.connect(host="127.0.0.1", port=cl.c.port, dbname=DATABASE, user="late_reader",
                            password=PASSWORDS["late_reader"])
    conn.close()
    assert sql(cl, cl.c, "SELECT relforcerowsecurity FROM pg_class WHERE oid = 'ledger.entries'::regclass") \
        == [(True,)]
    report = _report(chain, dag_run)
    assert [v["view"] for v in report["materialized_views_refreshed"]] == ["ledger.totals"]
    assert report["not_migrated"] == {"large_objects": 1}
    assert "not migrated      1 large objects" in out.text
    assert report["privilege_parity"]["ok"] is True
    how = {p["role"]: p["how"] for p in report["login_proof"]}
    assert how["app"] == "SET ROLE from pgshift's session"
    assert how["alice"].startswith("password accepted by C through connection 'pgshift_c_alice'")
    # Not replicator: the migration's own roles are created on C for the grants naming them, never given LOGIN.
    assert sorted(report["login_granted_on_c"]) == sorted(["app", *LOGIN_ROLES, "late_reader"])
    assert any(ch["role"] == "late_reader" for ch in report["roles"]["changes"])
    assert any("colreader" in ch["change"] for ch in report["privileges"]["changes"])
    assert PASSWORDS["alice"] not in out.text and "SCRAM-SHA-256$" not in out.text


def _report(reports: Path, dag_run) -> dict:
    import json

    from pgshift.common.report import safe_name

    return json.loads((reports / "cutover" / safe_name(dag_run.run_id) / "report.json").read_text())
