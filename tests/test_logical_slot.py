"""The logical slot on the standby B: reused when healthy, never left half-made, refused when invalidated."""

from __future__ import annotations

import psycopg2
import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from chain_helpers import chain_config, make_standby, slot_invalidated_on_b, sql
from testing_support import wait_for

from pgshift.migration.checks.cdc_lag import check_cdc_lag
from pgshift.migration.config import SLOT_PLUGINS
from pgshift.migration.operators.slot import LogicalSlotOperator


def slot_op(name: str, plugin: str = "test_decoding", **overrides) -> LogicalSlotOperator:
    """The operator for slot ``name`` with ``plugin`` (the mode's: test_decoding is dms's)."""
    mode = next(mode for mode, p in SLOT_PLUGINS.items() if p == plugin)
    return LogicalSlotOperator(task_id="slot", config=chain_config(slot_name=name, mode=mode, **overrides))


def slots_on_b(cl) -> list[str]:
    return [r[0] for r in sql(cl, cl.b, "SELECT slot_name FROM pg_replication_slots ORDER BY 1")]


@pytest.fixture(scope="module")
def standby(clusters):
    clusters.reset_chain()
    make_standby(clusters)
    return clusters


def test_created_with_nudges_then_reused(standby):
    created = slot_op("slot_reuse").execute({})
    assert created["created"] is True
    again = slot_op("slot_reuse").execute({})
    assert again["created"] is False
    with pytest.raises(AirflowFailException, match=r"plugin test_decoding .* not logical / pgoutput"):
        slot_op("slot_reuse", plugin="pgoutput").execute({})
    sql(standby, standby.b, "SELECT pg_drop_replication_slot('slot_reuse')")


def test_giving_up_leaves_no_slot_behind(standby):
    # An open transaction with an xid on A keeps the standby's snapshot builder from reaching a
    # consistent point, whatever the nudges: creation cannot finish until it ends.
    blocker = psycopg2.connect(standby.uri(standby.a))
    try:
        with blocker.cursor() as cur:
            cur.execute("INSERT INTO orders (customer, amount, note) VALUES (0, 0, 'blocker')")
        with pytest.raises(AirflowException, match="did not finish within 2 s"):
            slot_op("slot_given_up", slot_create_timeout_seconds=2).execute({})
    finally:
        blocker.rollback()
        blocker.close()
    # With the blocker gone and A nudged, a creator still running would now finish: it must not.
    lsn = sql(standby, standby.a, "SELECT pg_log_standby_snapshot()::text")[0][0]
    wait_for(lambda: sql(standby, standby.b, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0],
             30, what="B replaying the nudge")
    assert "slot_given_up" not in slots_on_b(standby)
    assert sql(standby, standby.b, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                   "'%%pg_create_logical_replication_slot%%' AND pid <> pg_backend_pid()")[0][0] == 0


def test_invalidated_slot_is_an_error_that_says_what_to_do(standby):
    cl = standby
    try:
        with slot_invalidated_on_b(cl, "slot_doomed", before_churn=lambda: slot_op("slot_doomed").execute({})):
            with pytest.raises(AirflowFailException) as err:
                slot_op("slot_doomed").execute({})
        message = str(err.value)
        assert "logical slot 'slot_doomed' on B is invalidated" in message
        assert "invalidation_reason=rows_removed" in message
        assert "hot_standby_feedback=on" in message
        reading = check_cdc_lag("pgshift_b", "slot_doomed", 16 * 2**20)
        assert reading.fatal and "invalidated" in reading.message
    finally:
        if "slot_doomed" in slots_on_b(cl):
            sql(cl, cl.b, "SELECT pg_drop_replication_slot('slot_doomed')")
