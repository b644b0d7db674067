"""A chain of several databases set up by the DAG (native mode) on real servers: pgshift's sample database and two
second-application databases made on A (their own role, identity and serial sequences, rows, writes during the
run). Each ends on C in a database of its own, created by the setup, with its own slot, publication and
subscription and every row; what A does not have is refused before anything is created; ``*`` lists A's.

Equality is judged here, not by pgshift's verify: count and a content hash of every table, per database."""

from __future__ import annotations

import io
import json
import re
from contextlib import ExitStack
from types import SimpleNamespace

import psycopg2
import pytest
from chain_helpers import (
    CaptureFds,
    SlotReader,
    chain_conf,
    chain_config,
    drop_subscriptions,
    run_dag,
    secrets_in,
    task_states,
    wait_for,
)
from pgcluster import DATABASE
from sample_data import SHOP_ROLE, ShopLoad, WriteLoad, load_shop
from testing_support import assert_run_succeeded, aurora_clusters, moto_aws_env

EXTRA = ["shop", "depot"]  # made on A by sample_data.load_shop; C has neither until the setup makes them
DATABASES = [DATABASE, *EXTRA]
SLOTS = {DATABASE: "pgshift_c_logical", "shop": "pgshift_c_logical_shop", "depot": "pgshift_c_logical_depot"}
SUBSCRIPTIONS = {DATABASE: "pgshift_sub", "shop": "pgshift_sub_shop", "depot": "pgshift_sub_depot"}
PUBLICATIONS = {DATABASE: "pgshift_pub", "shop": "pgshift_pub_shop", "depot": "pgshift_pub_depot"}


def q(cl, node, query: str, params=None, db: str = DATABASE) -> list[tuple]:
    return cl.sql(node, query, params, db)


def tables(cl, node, db: str) -> list[str]:
    return [r[0] for r in q(cl, node, "SELECT schemaname || '.' || relname FROM pg_stat_user_tables ORDER BY 1",
                            db=db)]


def fingerprint(cl, node, db: str, table: str) -> tuple[int, str]:
    """Count and order-independent content hash of one table."""
    schema, name = table.split(".", 1)
    row = q(cl, node, f'SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text '
                      f'FROM "{schema}"."{name}" t', db=db)[0]
    return int(row[0]), row[1]


def caught_up(cl, db: str, timeout: float = 60) -> None:
    """C has confirmed, on the database's own slot, everything A wrote so far."""
    target = q(cl, cl.a, "SELECT pg_current_wal_lsn()::text")[0][0]
    wait_for(lambda: q(cl, cl.b, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))[0][0], timeout,
             what="B replaying A's LSN")
    wait_for(lambda: q(cl, cl.b, "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                                 "WHERE slot_name = %s", (target, SLOTS[db]))[0][0], timeout,
             what=f"C confirming A's LSN in database {db}")


def assert_equal_everywhere(cl) -> None:
    for db in DATABASES:
        caught_up(cl, db)
        on_a = tables(cl, cl.a, db)
        assert on_a and on_a == tables(cl, cl.c, db), db
        for table in on_a:
            assert fingerprint(cl, cl.a, db, table) == fingerprint(cl, cl.c, db, table), (db, table)


def drop_on_c(cl) -> None:
    """The setup's databases on C (their subscriptions first), and the chain (:meth:`reset_chain`): B gone, A's
    slots dropped, A's publications in every database of the module."""
    for db in EXTRA:
        if q(cl, cl.c, "SELECT 1 FROM pg_database WHERE datname = %s", (db,)):
            drop_subscriptions(cl, cl.c, db)
            q(cl, cl.c, f'DROP DATABASE "{db}" WITH (FORCE)', db="postgres")
    cl.reset_chain()  # B gone, A's slots and the pgshift database's chain objects dropped
    for db in EXTRA:
        if q(cl, cl.a, "SELECT 1 FROM pg_database WHERE datname = %s", (db,)):
            for (name,) in q(cl, cl.a, "SELECT pubname FROM pg_publication", db=db):
                q(cl, cl.a, f'DROP PUBLICATION "{name}"', db=db)


def drop_extra(cl) -> None:
    """What this module added besides the chain: the databases on C and on A, and the second application's role
    on both."""
    drop_on_c(cl)
    for db in EXTRA:
        q(cl, cl.a, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', db="postgres")
    for node in (cl.a, cl.c):
        q(cl, node, f'DROP ROLE IF EXISTS "{SHOP_ROLE}"')
    from airflow.models import Variable

    for db in DATABASES:
        Variable.delete(f"pgshift_access_baseline_hybrid_aurora_migration_{db}")


@pytest.fixture(scope="module")
def several(clusters):
    drop_extra(clusters)
    for db in EXTRA:
        load_shop(clusters, db)
    yield clusters
    drop_extra(clusters)


@pytest.fixture(scope="module")
def refused(several):
    """A setup naming a database A does not have, run first: nothing may exist afterwards."""
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(several, databases=[DATABASE, "nowhere"]))
    return dag_run, out.text


@pytest.fixture(scope="module")
def setup_run(several, refused):
    cl = several
    # 'live' rows an earlier module's load left in pgshift's orders are counted out (the extra databases are new)
    before = q(cl, cl.a, "SELECT count(*) FROM orders WHERE note = 'live'")[0][0]
    loads = [WriteLoad(cl.uri(cl.a), rate=10), *(ShopLoad(cl, db, rate=10) for db in EXTRA)]
    for load in loads:
        load.start()
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(cl, databases=DATABASES))
    committed = dict(zip(DATABASES, (load.stop() for load in loads), strict=True))
    committed[DATABASE] += before
    return dag_run, committed, out.text


def test_a_database_a_does_not_have_fails_the_configuration_before_anything_is_created(several, refused):
    cl = several
    dag_run, text = refused
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed" and states["configuration"] == "failed", states
    assert states.get("preflight") != "success"
    assert "databases: nowhere not on A" in text
    assert not cl.is_running(cl.b) and not any(cl.b.data_dir.iterdir())
    assert q(cl, cl.a, "SELECT count(*) FROM pg_replication_slots")[0][0] == 0
    for db in DATABASES:
        assert q(cl, cl.a, "SELECT count(*) FROM pg_publication", db=db)[0][0] == 0, db
    assert q(cl, cl.c, "SELECT count(*) FROM pg_subscription")[0][0] == 0
    assert q(cl, cl.c, "SELECT datname FROM pg_database WHERE datname = ANY (%s)", ([*EXTRA, "nowhere"],)) == []


def test_every_database_is_on_c_with_every_row(several, setup_run):
    cl = several
    dag_run, committed, _ = setup_run
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert states["create_subscription"] == "success" and states["dms_task"] == "skipped"
    assert all(committed[db] > 0 for db in DATABASES), committed
    assert_equal_everywhere(cl)
    assert q(cl, cl.c, "SELECT count(*) FROM orders WHERE note = 'live'")[0][0] == committed[DATABASE]
    for db in EXTRA:
        assert q(cl, cl.c, "SELECT count(*) FROM carts WHERE note = 'live'", db=db)[0][0] == committed[db], db


def test_each_database_has_its_own_slot_publication_and_subscription(several, setup_run):
    cl = several
    assert q(cl, cl.b, "SELECT slot_name, database, plugin FROM pg_replication_slots WHERE slot_type = 'logical' "
                       "AND NOT temporary ORDER BY 1") == sorted((SLOTS[db], db, "pgoutput") for db in DATABASES)
    for db in DATABASES:
        assert q(cl, cl.a, "SELECT pubname FROM pg_publication", db=db) == [(PUBLICATIONS[db],)], db
        own = q(cl, cl.c, "SELECT subname, subslotname, subpublications FROM pg_subscription WHERE subdbid = "
                          "(SELECT oid FROM pg_database WHERE datname = current_database())", db=db)
        assert own == [(SUBSCRIPTIONS[db], SLOTS[db], [PUBLICATIONS[db]])], db


def test_the_setup_created_the_databases_on_c_and_the_role_once(several, setup_run):
    cl = several
    owners = q(cl, cl.c, "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = ANY (%s) "
                         "ORDER BY 1", (EXTRA,))
    # created by conn_c's role, then handed to the role that owns each on A, which C has by then
    assert owners == sorted((db, SHOP_ROLE) for db in EXTRA)
    assert owners == q(cl, cl.a, "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = ANY (%s) "
                                 "ORDER BY 1", (EXTRA,))
    # roles are migrated once, NOLOGIN until the cutover; shop_app is in scope through shop's and depot's catalogs
    assert q(cl, cl.c, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (SHOP_ROLE,)) == [(False,)]
    for db in EXTRA:
        assert q(cl, cl.c, "SELECT relname, pg_get_userbyid(relowner) FROM pg_class WHERE relkind = 'r' AND "
                           "relnamespace = 'public'::regnamespace ORDER BY 1", db=db) == [
            ("carts", SHOP_ROLE), ("customers", SHOP_ROLE)], db


def test_writes_after_the_setup_reach_c_in_each_database(several, setup_run):
    cl = several
    q(cl, cl.a, "INSERT INTO orders (customer, amount, note) VALUES (1, 1, 'after setup')")
    for db in EXTRA:
        q(cl, cl.a, "INSERT INTO customers (name) VALUES ('after setup')", db=db)
        q(cl, cl.a, "INSERT INTO carts (customer_id, total, note) SELECT max(id), 2, 'after setup' FROM customers",
          db=db)
    assert_equal_everywhere(cl)
    for db in EXTRA:
        assert q(cl, cl.c, "SELECT count(*) FROM carts WHERE note = 'after setup'", db=db) == [(1,)], db


def test_a_second_setup_of_the_same_databases_changes_nothing(several, setup_run):
    """A setup run again (a retry, or by mistake): every database's objects are found and kept as they are."""
    cl = several

    def identity() -> list:
        return [q(cl, cl.b, "SELECT slot_name, database FROM pg_replication_slots ORDER BY 1"),
                q(cl, cl.c, "SELECT oid, datname FROM pg_database ORDER BY 1"),
                q(cl, cl.c, "SELECT oid, subname FROM pg_subscription ORDER BY 1"),
                *(q(cl, cl.a, "SELECT oid, pubname FROM pg_publication", db=db) for db in DATABASES),
                *(q(cl, cl.c, "SELECT oid, relname FROM pg_class WHERE relkind = 'r' AND relnamespace = "
                              "'public'::regnamespace ORDER BY 1", db=db) for db in DATABASES)]

    before = identity()
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(cl, databases=DATABASES))
    assert_run_succeeded(dag_run, out.text)
    assert identity() == before
    for db in EXTRA:
        assert f"database {db}: Subscription '{SUBSCRIPTIONS[db]}' already exists on C" in out.text
        assert f"database {db}: All 2 tables already exist on C: schema copy skipped" in out.text
    assert_equal_everywhere(cl)


def test_the_setup_logs_each_database_and_no_password(several, setup_run):
    cl = several
    _, _, text = setup_run
    for db in EXTRA:
        assert f"database {db}: Created logical slot '{SLOTS[db]}' on B" in text
        assert f"Created database '{db}' on C" in text
    assert secrets_in(text, cl) == []


def test_the_sensors_wait_for_every_database_and_name_the_one_that_is_wrong(several, setup_run):
    """The setup's waits read every database in one reading; a subscription missing in one names it."""
    from pgshift.common.checks.base import Check
    from pgshift.migration.sensors.replication import CdcLagSensor, SubscriptionSyncedSensor

    cl = several
    synced = SubscriptionSyncedSensor(task_id="s", config=chain_config(cl, databases=DATABASES)).check()
    assert Check.deserialize(synced.serialize()) == synced  # what the triggerer rebuilds
    reading = synced.read()
    assert reading.done, reading.message
    assert sorted(reading.details["databases"]) == sorted(DATABASES)
    lag = CdcLagSensor(task_id="l", config=chain_config(cl, databases=DATABASES)).check().read()
    assert lag.done and sorted(lag.details["databases"]) == sorted(DATABASES), lag.message
    # only depot's subscription missing: a fatal reading that names depot and only depot
    q(cl, cl.c, "ALTER SUBSCRIPTION pgshift_sub_depot RENAME TO elsewhere", db="depot")
    try:
        wrong = SubscriptionSyncedSensor(task_id="s", config=chain_config(cl, databases=DATABASES)).check().read()
    finally:
        q(cl, cl.c, "ALTER SUBSCRIPTION elsewhere RENAME TO pgshift_sub_depot", db="depot")
    assert not wrong.done and wrong.fatal
    assert wrong.message == "database depot: C has no subscription 'pgshift_sub_depot'"


def test_the_preflight_names_the_database_of_a_problem(several, setup_run):
    """A table without a key in depot only: the preflight's problem names depot, and no other database."""
    from airflow.sdk.exceptions import AirflowFailException

    from pgshift.migration.operators.preflight import ChainPreflightOperator

    cl = several
    q(cl, cl.a, "CREATE TABLE nokey (x int)", db="depot")
    try:
        with pytest.raises(AirflowFailException) as refused:
            ChainPreflightOperator(task_id="preflight", config=chain_config(cl, databases=DATABASES)).execute({})
    finally:
        q(cl, cl.a, "DROP TABLE nokey", db="depot")
    lines = [line for line in str(refused.value).splitlines() if "nokey" in line]
    assert all(line.startswith("  - database depot: ") for line in lines), str(refused.value)
    assert any("table public.nokey has no primary key" in line for line in lines), str(refused.value)


def test_star_is_every_database_of_a(several):
    from pgshift.migration.databases import resolved_for_run

    cl = several
    on_a = [r[0] for r in q(cl, cl.a, "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn "
                                      "ORDER BY 1")]
    assert set(DATABASES) <= set(on_a)
    assert resolved_for_run(chain_config(cl, databases=["*"], action="setup")).databases == tuple(on_a)


TWO = [DATABASE, "shop"]  # the DMS chain's databases


@pytest.fixture(scope="module")
def dms_two(several, setup_run, moto_server):
    """dms mode over two databases against the moto server (tests/test_dms_chain.py says what it stands for), set
    up by the DAG; each database's slot on B read by a stand-in for DMS until the module ends (the cutover's drain
    needs it)."""
    from airflow.providers.amazon.aws.hooks.dms import DmsHook

    cl = several
    drop_on_c(cl)
    moto_server.reset()
    with pytest.MonkeyPatch.context() as mp, ExitStack() as readers:
        moto_aws_env(mp, moto_server)
        for db in TWO:
            readers.enter_context(SlotReader(cl, SLOTS[db], db=db))
        conf = chain_conf(cl, mode="dms", databases=TWO, dms_ssl_mode="none")
        with CaptureFds() as out:
            dag_run = run_dag(conf)
        yield SimpleNamespace(conf=conf, dag_run=dag_run, text=out.text, dms=DmsHook(aws_conn_id="aws_default").conn)
        cl.reset_chain()  # A unfenced, the way back dropped, C's databases gone


def test_dms_mode_makes_one_endpoint_pair_and_one_task_per_database(several, dms_two):
    """One replication instance; per database its source on B (its slot) and target on C, each naming the
    database, and its task between them, every task waited for and started."""
    cl, dms, out = several, dms_two.dms, dms_two
    states = assert_run_succeeded(dms_two.dag_run, out.text)
    assert states["create_subscription"] == "skipped" and states["wait_dms_full_load"] == "success"
    assert len(dms.describe_replication_instances()["ReplicationInstances"]) == 1
    endpoints = {e["EndpointIdentifier"]: e for e in dms.describe_endpoints()["Endpoints"]}
    assert sorted(endpoints) == ["pgshift-source-b", "pgshift-source-b-shop", "pgshift-target-c",
                                 "pgshift-target-c-shop"]
    for db, suffix in ((DATABASE, ""), ("shop", "-shop")):
        source, target = endpoints[f"pgshift-source-b{suffix}"], endpoints[f"pgshift-target-c{suffix}"]
        assert (source["DatabaseName"], source["Port"], source["PostgreSQLSettings"]["SlotName"]) == (
            db, cl.b.port, SLOTS[db])
        assert (target["DatabaseName"], target["Port"]) == (db, cl.c.port)
    tasks = {t["ReplicationTaskIdentifier"]: t for t in dms.describe_replication_tasks()["ReplicationTasks"]}
    assert sorted(tasks) == ["pgshift-b-to-c", "pgshift-b-to-c-shop"]
    for suffix in ("", "-shop"):
        task = tasks[f"pgshift-b-to-c{suffix}"]
        assert (task["SourceEndpointArn"], task["TargetEndpointArn"], task["Status"]) == (
            endpoints[f"pgshift-source-b{suffix}"]["EndpointArn"],
            endpoints[f"pgshift-target-c{suffix}"]["EndpointArn"], "running")
    assert q(cl, cl.b, "SELECT slot_name, database, plugin FROM pg_replication_slots WHERE slot_type = 'logical' "
                       "AND NOT temporary ORDER BY 1") == sorted((SLOTS[db], db, "test_decoding") for db in TWO)
    assert tables(cl, cl.c, "shop") == tables(cl, cl.a, "shop")  # the schema, in the database made on C
    assert secrets_in(out.text, cl) == []


def _full_load(cl, db: str) -> None:
    """What DMS's full load would have done (under moto nothing moves data): A's rows into C's tables."""
    src, dst = psycopg2.connect(cl.uri(cl.a, db=db)), psycopg2.connect(cl.uri(cl.c, db=db))
    try:
        dst.cursor().execute("SET session_replication_role = replica")  # as DMS loads: tables in any order
        for table in tables(cl, cl.a, db):
            buf = io.StringIO()
            src.cursor().copy_expert(f"COPY {table} TO STDOUT", buf)
            buf.seek(0)
            dst.cursor().copy_expert(f"COPY {table} FROM STDIN", buf)
        dst.commit()
    finally:
        src.close()
        dst.close()


def test_dms_cutover_of_two_databases_stops_each_task_and_arms_each_way_back(several, dms_two, tmp_path):
    """The cutover of the DMS chain: each database's task stopped by the finalize, every table equal, and the way
    back armed in each database (A's subscription to C's publication and slot there): a row written on C in shop
    comes back to A."""
    cl = several
    for db in TWO:  # A takes no writes here: C fully loaded and caught up
        _full_load(cl, db)
    with CaptureFds() as out:
        dag_run = run_dag({**dms_two.conf, "action": "cutover", "app_roles": ["app", SHOP_ROLE], "dry_run": False,
                           "gate_readings": 1, "report_dir": str(tmp_path)})
    assert_run_succeeded(dag_run, out.text)
    tasks = {t["ReplicationTaskIdentifier"]: t["Status"]
             for t in dms_two.dms.describe_replication_tasks()["ReplicationTasks"]}
    assert tasks == {"pgshift-b-to-c": "stopped", "pgshift-b-to-c-shop": "stopped"}
    for task in tasks:  # the finalize of each database stopped its own
        assert re.search(rf"Stopped DMS task {task}(?!-)", out.text), task
    (path,) = tmp_path.glob("cutover/*/report.json")
    report = json.loads(path.read_text())
    assert report["status"] == "ready" and list(report["databases"]) == TWO
    for db in TWO:
        assert {t["table"] for t in report["databases"][db]["tables"]} == set(tables(cl, cl.a, db)), db
        for table in tables(cl, cl.a, db):
            assert fingerprint(cl, cl.a, db, table) == fingerprint(cl, cl.c, db, table), (db, table)
    # the way back, per database: a subscription on A, its publication and slot on C, in that database
    assert q(cl, cl.a, "SELECT d.datname, s.subenabled FROM pg_subscription s JOIN pg_database d "
                       "ON d.oid = s.subdbid ORDER BY 1") == [(db, True) for db in sorted(TWO)]
    assert q(cl, cl.c, "SELECT database FROM pg_replication_slots ORDER BY 1") == [(db,) for db in sorted(TWO)]
    q(cl, cl.c, "INSERT INTO carts (customer_id, total, note) SELECT min(id), 1, 'back to A' FROM customers", db="shop")
    wait_for(lambda: q(cl, cl.a, "SELECT count(*) FROM carts WHERE note = 'back to A'", db="shop") == [(1,)], 30,
             what="a row written on C in shop reaching A")


@pytest.fixture(scope="module")
def aurora_shaped():
    """A, B (empty) and an Aurora-shaped C (pgshift logs in as the master user: CREATEDB, no superuser), the sample
    and the shop on A; the connections point at them for this test only."""
    from airflow.models import Variable

    from pgshift.migration.configuration import variable_key

    Variable.delete(variable_key("hybrid_aurora_migration"))  # the chains set up above are other servers'
    with aurora_clusters("aurora-dbs", orders=200) as cl:
        load_shop(cl, "shop")
        yield cl


def test_on_an_aurora_shaped_c_the_master_user_creates_the_database(aurora_shaped):
    """As the demo's C: the setup creates shop as the master user (no superuser), hands it to shop_app as on A (the
    restore's ALTER TABLE … OWNER TO shop_app needs shop_app's CREATE on public, which owning the database gives),
    and both databases arrive."""
    cl = aurora_shaped
    two = [DATABASE, "shop"]
    load = ShopLoad(cl, "shop", rate=10).start()
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(cl, databases=two))
    committed = load.stop()
    assert_run_succeeded(dag_run, out.text)
    assert q(cl, cl.c, "SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'") == [(False,)]
    assert q(cl, cl.c, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'") == [(SHOP_ROLE,)]
    assert q(cl, cl.c, "SELECT pg_has_role('postgres', 'shop_app', 'USAGE')") == [(True,)]  # still acts as owner
    for db in two:
        caught_up(cl, db)
        for table in tables(cl, cl.a, db):
            assert fingerprint(cl, cl.a, db, table) == fingerprint(cl, cl.c, db, table), (db, table)
    assert q(cl, cl.c, "SELECT count(*) FROM carts WHERE note = 'live'", db="shop") == [(committed,)]
    assert secrets_in(out.text, cl) == []


def test_the_way_back_of_every_database_must_fit_at_once():
    """Each database's way back passes on its own against what is in use; three at once need three of each."""
    from pgshift.migration.operators.preflight import way_back_room
    from pgshift.migration.preflight.finding import Finding

    def per_db(c_slots_free: int, a_workers: int) -> dict:
        facts = {"c": {"max_replication_slots": 10, "slots_used": 10 - c_slots_free, "max_wal_senders": 10,
                       "senders_used": 0},
                 "a": {"max_logical_replication_workers": a_workers, "max_worker_processes": 8,
                       "subscriptions_enabled": 0, "max_active_replication_origins": None,
                       "max_replication_slots": 10, "origins_used": 0}}
        return {db: {"fallback": Finding(facts=facts)} for db in DATABASES}

    assert way_back_room(per_db(c_slots_free=3, a_workers=4)) == []
    assert way_back_room(per_db(c_slots_free=2, a_workers=2)) == [
        "C has max_replication_slots=10 with 8 in use: the way back of 3 databases needs 3 free slots on C",
        "A has max_logical_replication_workers=2 with 0 enabled subscription(s): the way back of 3 databases needs "
        "3 apply workers"]
