"""The whole native chain on an Aurora-shaped C (issue 22), and the proof that no superuser was used on C.

C is made in pgcluster's ``aurora`` profile: its bootstrap superuser is ``rdsadmin`` (AWS's own account, the
harness's only), and pgshift's ``pgshift_c`` logs in as ``postgres``, created as Aurora creates its master user.
One path through the DAG on its own cluster set: setup (native) -> validation -> cutover with roles -> the
application on C -> fallback; then a second setup -> cutover -> finish (a fallen-back chain cannot be finished);
then a third chain's setup in dms mode (its AWS side on the moto server; C's side, the schema and the roles, and the
target endpoint's login are pgshift's role on C).

The proof reads C's server log (``log_connections``) over the whole path: every session opened on C in it logged in
as a role without ``rolsuper``. Inside that window the harness itself reads C only as the master user ``postgres``
(:func:`on_c`), never as ``rdsadmin``; the roles the log names are looked up after it.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg2
import pytest
from chain_helpers import NAMES, CaptureFds, SlotReader, app_can_log_in, chain_conf, fingerprint, run_dag
from pgcluster import DATABASE, LocalClusters
from testing_support import assert_run_succeeded, aurora_clusters, wait_for

PASSWORDS = {r: secrets.token_urlsafe(12) for r in ("shop_owner", "carol")}
SETUP_ON_A = """
CREATE ROLE shop_owner LOGIN PASSWORD %(shop_owner)s;
CREATE ROLE shop_readers NOLOGIN;
CREATE ROLE carol LOGIN PASSWORD %(carol)s IN ROLE shop_readers;
CREATE SCHEMA shop AUTHORIZATION shop_owner;
GRANT USAGE ON SCHEMA shop TO shop_readers, replicator, app;
SET ROLE shop_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT ON TABLES TO shop_readers;
CREATE TABLE shop.items (id bigserial PRIMARY KEY, buyer text NOT NULL, price numeric NOT NULL);
INSERT INTO shop.items (buyer, price)
SELECT CASE WHEN g %% 2 = 0 THEN 'carol' ELSE 'dave' END, g FROM generate_series(1, 40) g;
GRANT SELECT ON shop.items TO replicator;
GRANT SELECT, INSERT ON shop.items TO app;
GRANT USAGE ON SEQUENCE shop.items_id_seq TO app;
ALTER TABLE shop.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON shop.items FOR SELECT TO shop_readers USING (buyer = current_user);
CREATE POLICY app_all ON shop.items TO app USING (true);
RESET ROLE;
ALTER ROLE replicator BYPASSRLS;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO app;
"""
# PostgreSQL's log_connections line, with or without the database (a walsender for physical replication has none).
AUTHORIZED = re.compile(r"connection authorized: user=(?P<user>\S+)(?: database=(?P<db>\S+))?"
                        r"(?: application_name=(?P<app>.*?))?(?: \(|$)")


@pytest.fixture(scope="module")
def aurora() -> Iterator[LocalClusters]:
    """A, B (empty) and C in the aurora profile, sample data at scale 1, roles of an application on A; the
    Airflow connections point at them for the module and back at the session's clusters afterwards."""
    with aurora_clusters("aurora", orders=500) as cl:
        cl.sql(cl.a, SETUP_ON_A, PASSWORDS)
        os.environ["AIRFLOW_CONN_PGSHIFT_C_CAROL"] = (f"postgresql://carol:{quote(PASSWORDS['carol'], safe='')}"
                                                      f"@127.0.0.1:{cl.c.port}/{DATABASE}")
        yield cl


def on_c(cl: LocalClusters, query: str, params: Any = None, user: str = "postgres",
         password: str | None = None) -> list[tuple[Any, ...]]:
    """One statement on C as ``user`` (default the master user, as pgshift logs in: never rdsadmin)."""
    conn = psycopg2.connect(host="127.0.0.1", port=cl.c.port, dbname=DATABASE, user=user,
                            password=password or cl._password(cl.c, user), application_name="pgshift-test")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def run(conf: dict[str, Any]) -> dict[str, str]:
    with CaptureFds() as out:
        dag_run = run_dag(conf)
    return assert_run_succeeded(dag_run, out.text)


def step_conf(cl: LocalClusters, reports: Path, action: str, **overrides: Any) -> dict[str, Any]:
    return chain_conf(cl, action=action, dry_run=False, gate_readings=2, gate_interval_seconds=0.2,
                      report_dir=str(reports), **overrides)


def sessions_since(cl: LocalClusters, start: int, end: int) -> list[dict[str, str]]:
    """The sessions C's log says were authorized between bytes ``start`` and ``end``."""
    with open(cl.c.log_file, "rb") as fh:
        fh.seek(start)
        text = fh.read(end - start).decode("utf-8", "replace")
    return [m.groupdict() for m in map(AUTHORIZED.search, text.splitlines()) if m]


@pytest.fixture(scope="module")
def path(aurora: LocalClusters, moto_server: Any,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The whole path, each step's observations taken as it happens (as the master user on C)."""
    cl, reports = aurora, tmp_path_factory.mktemp("reports")
    seen: dict[str, Any] = {}
    start = cl.c.log_file.stat().st_size
    # setup (native) and the validation
    seen["setup"] = run(chain_conf(cl, report_dir=str(reports)))
    wait_for(lambda: fingerprint_c(cl, "public.orders") == fingerprint(cl, cl.a, "public.orders"), 60,
             what="C caught up with A")
    seen["roles_after_setup"] = on_c(cl, "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s) "
                                         "ORDER BY 1", (["app", "carol", "shop_owner", "shop_readers"],))
    seen["items_after_setup"] = on_c(cl, "SELECT relowner::regrole::text, relrowsecurity FROM pg_class "
                                          "WHERE oid = 'shop.items'::regclass")
    seen["validate"] = run(chain_conf(cl, action="validate", report_dir=str(reports)))
    # the cutover, with the roles; then the application on C
    seen["cutover"] = run(step_conf(cl, reports, "cutover", app_roles=["app", "carol"],
                                    app_role_connections={"carol": "pgshift_c_carol"}))
    seen["carol_rows"] = on_c(cl, "SELECT count(*), count(*) FILTER (WHERE buyer <> 'carol') FROM shop.items",
                              user="carol", password=PASSWORDS["carol"])
    seen["carol_groups"] = on_c(cl, "SELECT pg_has_role('carol', 'shop_readers', 'MEMBER'), "
                                     "has_table_privilege('carol', 'shop.items', 'SELECT')")
    seen["owner_login"] = on_c(cl, "SELECT current_user", user="shop_owner", password=PASSWORDS["shop_owner"])
    seen["items_after_cutover"] = on_c(cl, "SELECT relowner::regrole::text, relrowsecurity, relforcerowsecurity, "
                                            "(SELECT count(*) FROM pg_policy WHERE polrelid = c.oid) "
                                            "FROM pg_class c WHERE oid = 'shop.items'::regclass")
    seen["default_acl"] = on_c(cl, "SELECT defaclrole::regrole::text, defaclnamespace::regnamespace::text, "
                                    "defaclacl::text FROM pg_default_acl")
    seen["app_on_c"] = on_c(cl, "INSERT INTO shop.items (buyer, price) VALUES ('app', 1) RETURNING id",
                            user="app", password=cl.passwords()["app"])
    on_c(cl, "INSERT INTO orders (customer, amount, note) SELECT 9, g, 'written on C' FROM generate_series(1, 20) g",
         user="app", password=cl.passwords()["app"])
    seen["a_fenced"] = not app_can_log_in(cl)
    # back to A
    seen["fallback"] = run(step_conf(cl, reports, "fallback"))
    seen["a_written_on_c"] = cl.sql(cl.a, "SELECT count(*) FROM orders WHERE note = 'written on C'")
    seen["a_items_app"] = cl.sql(cl.a, "SELECT id FROM shop.items WHERE buyer = 'app'")
    seen["app_on_a"] = app_can_log_in(cl)
    seen["c_way_back_after_fallback"] = on_c(cl, "SELECT (SELECT count(*) FROM pg_publication), "
                                                 "(SELECT count(*) FROM pg_replication_slots)")
    sessions = sessions_since(cl, start, cl.c.log_file.stat().st_size)
    # A second chain, finished on C. The reset between the two is the harness's (as rdsadmin), outside the proof.
    gap = cl.c.log_file.stat().st_size
    cl.reset_chain()
    cl.sql(cl.c, "DROP SCHEMA shop CASCADE")
    start = cl.c.log_file.stat().st_size
    harness = sessions_since(cl, gap, start)
    seen["setup2"] = run(chain_conf(cl, report_dir=str(reports)))
    seen["cutover2"] = run(step_conf(cl, reports, "cutover", app_roles=["app"]))
    seen["finish"] = run(step_conf(cl, reports, "finish"))
    seen["c_after_finish"] = on_c(cl, "SELECT (SELECT count(*) FROM pg_publication), "
                                      "(SELECT count(*) FROM pg_replication_slots), "
                                      "(SELECT count(*) FROM pg_subscription)")
    seen["app_on_c_after_finish"] = on_c(cl, "SELECT current_user", user="app", password=cl.passwords()["app"])
    sessions += sessions_since(cl, start, cl.c.log_file.stat().st_size)
    # A third chain, in dms mode: DMS itself is the moto server (it moves no data; pg_recvlogical reads B's slot).
    gap = cl.c.log_file.stat().st_size
    cl.reset_chain()
    cl.sql(cl.c, "DROP SCHEMA shop CASCADE")
    start = cl.c.log_file.stat().st_size
    harness += sessions_since(cl, gap, start)
    moto_server.reset()
    saved = {key: os.environ.get(key) for key in moto_server.env()}
    os.environ.update(moto_server.env())
    try:
        with SlotReader(cl, NAMES["slot"]):
            seen["setup_dms"] = run(chain_conf(cl, mode="dms", dms_ssl_mode="none", report_dir=str(reports)))
        from airflow.providers.amazon.aws.hooks.dms import DmsHook

        (target,) = DmsHook(aws_conn_id="aws_default").conn.describe_endpoints(
            Filters=[{"Name": "endpoint-type", "Values": ["target"]}])["Endpoints"]
        seen["dms_target"] = (target["Username"], target["Port"])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seen["c_after_dms_setup"] = on_c(cl, "SELECT (SELECT count(*) FROM pg_subscription), "
                                         "(SELECT relowner::regrole::text FROM pg_class "
                                         "WHERE oid = 'shop.items'::regclass)")
    sessions += sessions_since(cl, start, cl.c.log_file.stat().st_size)
    yield SimpleNamespace(cl=cl, seen=seen, sessions=sessions, harness=harness)


def fingerprint_c(cl: LocalClusters, table: str) -> tuple[int, str]:
    schema, name = table.split(".", 1)
    row = on_c(cl, f'SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM "{schema}"."{name}" t')
    return int(row[0][0]), row[0][1]


def test_setup_and_validation_on_aurora(path: SimpleNamespace) -> None:
    seen = path.seen
    assert seen["setup"]["create_subscription"] == "success"
    assert seen["validate"]["validate"] == "success"
    # The roles reach C without LOGIN until the cutover; the RLS table keeps its owner (not pgshift's role).
    assert seen["roles_after_setup"] == [("app", False), ("carol", False), ("shop_owner", False),
                                         ("shop_readers", False)]
    assert seen["items_after_setup"] == [("shop_owner", True)]


def test_cutover_makes_c_ready_on_aurora(path: SimpleNamespace) -> None:
    seen = path.seen
    assert seen["cutover"]["cutover"] == "success"
    assert seen["a_fenced"]
    # carol logs in with her own password (a SCRAM verifier set by a non-superuser) and sees her rows only.
    assert seen["carol_rows"] == [(20, 0)]
    assert seen["carol_groups"] == [(True, True)]
    assert seen["owner_login"] == [("shop_owner",)]
    assert seen["items_after_cutover"] == [("shop_owner", True, False, 2)]
    assert ("shop_owner", "shop", "{shop_readers=r/shop_owner}") in seen["default_acl"]
    # The sequence continues after A's rows: the application's first row on C takes the next id.
    assert seen["app_on_c"] == [(41,)]


def test_fallback_and_finish_on_aurora(path: SimpleNamespace) -> None:
    seen = path.seen
    assert seen["fallback"]["fallback"] == "success"
    assert seen["a_written_on_c"] == [(20,)]
    assert seen["a_items_app"] == [(41,)]
    assert seen["app_on_a"] is True
    assert seen["c_way_back_after_fallback"] == [(0, 0)]
    assert seen["finish"]["finish"] == "success"
    assert seen["c_after_finish"] == [(0, 0, 0)]
    assert seen["app_on_c_after_finish"] == [("app",)]


def test_dms_setup_on_aurora(path: SimpleNamespace) -> None:
    seen = path.seen
    assert seen["setup_dms"]["wait_dms_full_load"] == "success"
    assert seen["setup_dms"]["create_subscription"] == "skipped"
    # DMS writes to C as pgshift's role there, the master user (no superuser); the schema is on C with its owner.
    assert seen["dms_target"] == ("postgres", path.cl.c.port)
    assert seen["c_after_dms_setup"] == [(0, "shop_owner")]


def test_no_superuser_logged_in_to_c(path: SimpleNamespace) -> None:
    cl, sessions = path.cl, path.sessions
    users = sorted({s["user"] for s in sessions})
    assert "postgres" in users and "c_replicator" in users and "carol" in users, users
    supers = {r for (r,) in cl.sql(cl.c, "SELECT rolname FROM pg_roles WHERE rolsuper")}
    assert supers == {"rdsadmin"}
    # The reading sees a superuser where there was one: the harness's reset between the two chains.
    assert "rdsadmin" in {s["user"] for s in path.harness}
    offending = sorted({(s["user"], s["app"] or "") for s in sessions if s["user"] in supers})
    assert offending == [], f"sessions on C as a superuser (user, application_name): {offending}"


def test_no_airflow_connection_logs_in_to_c_as_a_superuser(aurora: LocalClusters) -> None:
    cl = aurora
    on_c_port = {k: v for k, v in os.environ.items()
                 if k.startswith("AIRFLOW_CONN_") and urlsplit(v).port == cl.c.port}
    assert {"AIRFLOW_CONN_PGSHIFT_C", "AIRFLOW_CONN_PGSHIFT_C_REPLICATION"} <= set(on_c_port)
    for key, uri in on_c_port.items():  # a connection logs in as the role it names (or not at all)
        user = urlsplit(uri).username
        (rolsuper,), = on_c(cl, "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (user,))
        assert rolsuper is False, f"{key} logs in to C as {user}, a superuser"




def test_what_pgshifts_role_has_on_c(aurora: LocalClusters) -> None:
    """The master user's rights as the chain reads them (preflight's reading): everything but a superuser's."""
    from pgshift.migration.hooks.states import TargetRoleRights
    from pgshift.migration.hooks.target import TargetHook

    with TargetHook("pgshift_c") as c:
        rights = c.role_rights()
    assert rights == TargetRoleRights(rolname="postgres", rolsuper=False, rolcreaterole=True, rolbypassrls=False,
                                      create_subscription=True, database_create=True, database_owner=True,
                                      signal_backend=True, fence_setting=False, database="pgshift",
                                      read_all_stats=True, aurora=True, rds_superuser=True, schemas_without_create=[],
                                      roles_without_admin=[])


def test_a_role_pgshift_did_not_create_is_refused_with_the_grant(path: SimpleNamespace) -> None:
    """A role a DBA made on C before the migration: the master user has no ADMIN OPTION on it, and the roles'
    migration stops naming the GRANT that gives it, changing nothing."""
    from pgshift.migration.access.roles import apply_roles, plan_roles, read_roles
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.target import TargetHook

    cl = path.cl  # after the proof's window: the harness may use rdsadmin
    cl.sql(cl.c, "CREATE ROLE dba_made NOLOGIN")
    cl.sql(cl.a, "CREATE ROLE dba_made NOLOGIN CONNECTION LIMIT 3")
    with PrimaryHook("pgshift_a") as a, TargetHook("pgshift_c") as c:
        plan = plan_roles(read_roles(a, ["dba_made"]), read_roles(c, ["dba_made"]), protected={})
        with pytest.raises(PermissionError, match="GRANT dba_made TO postgres WITH ADMIN OPTION"):
            apply_roles(c, plan)
    assert cl.sql(cl.c, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'dba_made'") == [(-1,)]
