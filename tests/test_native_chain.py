"""The whole DAG in native mode on real servers: C ends with A's rows, written before and during the run."""

from __future__ import annotations

import pytest
from chain_helpers import (
    NAMES,
    CaptureFds,
    airflow_db_text,
    chain_conf,
    fingerprint,
    run_dag,
    secrets_in,
    sql,
    task_states,
    user_tables,
    wait_c_caught_up,
)
from sample_data import WriteLoad


@pytest.fixture(scope="module")
def native_run(clusters):
    clusters.reset_chain()
    load = WriteLoad(clusters.uri(clusters.a), rate=25).start()
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(clusters))
    committed = load.stop()
    return dag_run, committed, out.text


def chain_identity(cl) -> dict:
    """What a re-run must not change: B's identity and start time, slots, publication, subscription."""
    return {
        "b_system": sql(cl, cl.b, "SELECT system_identifier FROM pg_control_system()"),
        "b_started": sql(cl, cl.b, "SELECT pg_postmaster_start_time()"),
        "a_slots": sql(cl, cl.a, "SELECT slot_name, slot_type FROM pg_replication_slots ORDER BY 1"),
        "b_slots": sql(cl, cl.b, "SELECT slot_name, plugin FROM pg_replication_slots WHERE NOT temporary ORDER BY 1"),
        "publication": sql(cl, cl.a, "SELECT oid, pubname, puballtables FROM pg_publication"),
        "subscription": sql(cl, cl.c, "SELECT oid, subname, subslotname FROM pg_subscription"),
        "c_tables": sql(cl, cl.c, "SELECT oid, relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                                  "AND relkind = 'r' ORDER BY 1"),
    }


def test_native_chain_moves_every_row(clusters, native_run):
    dag_run, committed, _ = native_run
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert states["create_subscription"] == "success"
    assert states["dms_task"] == "skipped"
    assert committed > 0
    wait_c_caught_up(clusters)
    tables = user_tables(clusters, clusters.a)
    assert tables == user_tables(clusters, clusters.c)
    assert "public.orders" in tables
    for table in tables:
        assert fingerprint(clusters, clusters.a, table) == fingerprint(clusters, clusters.c, table), table
    live_on_c = sql(clusters, clusters.c, "SELECT count(*) FROM orders WHERE note = 'live'")[0][0]
    assert live_on_c == committed
    slot = sql(clusters, clusters.b, "SELECT plugin, active FROM pg_replication_slots WHERE slot_name = %s",
               (NAMES["slot"],))
    assert slot == [("pgoutput", True)]
    hsf = sql(clusters, clusters.b, "SELECT current_setting('hot_standby_feedback'), "
                                    "(SELECT slot_name FROM pg_stat_wal_receiver)")
    assert hsf == [("on", NAMES["physical_slot"])]


def test_task_logs_show_progress_and_no_password(clusters, native_run):
    _, _, logs = native_run
    assert "[B] [basebackup] pg_basebackup from 127.0.0.1" in logs
    assert "Created logical slot 'pgshift_c_logical' on B" in logs
    assert secrets_in(logs, clusters) == []
    assert secrets_in(airflow_db_text(), clusters) == []


def test_rerun_on_finished_chain_changes_nothing(clusters, native_run):
    before = chain_identity(clusters)
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(clusters))
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert chain_identity(clusters) == before
    assert "B already streams from A on slot 'pgshift_b_physical'" in out.text
    assert "Publication 'pgshift_pub' already exists on A" in out.text
    assert "Slot 'pgshift_c_logical' already exists on B and is healthy" in out.text
    assert "Subscription 'pgshift_sub' already exists on C" in out.text
    assert secrets_in(out.text, clusters) == []
    wait_c_caught_up(clusters)
    for table in user_tables(clusters, clusters.a):
        assert fingerprint(clusters, clusters.a, table) == fingerprint(clusters, clusters.c, table), table
