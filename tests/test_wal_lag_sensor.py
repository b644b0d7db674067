"""The A -> B lag sensor: a stopped WAL receiver or an unknown lag never reads as "no lag"."""

from __future__ import annotations

import asyncio

import pytest
from chain_helpers import NAMES, chain_config, make_standby, sql
from testing_support import wait_for

from pgshift.common.triggers.poll import PgShiftPollTrigger
from pgshift.migration.checks.wal_lag import check_wal_lag, evaluate_wal_lag
from pgshift.migration.sensors.replication import WalLagSensor

KWARGS = {"conn_a": "pgshift_a", "conn_b": "pgshift_b", "physical_slot": NAMES["physical_slot"],
          "max_bytes": 16 * 2**20, "max_seconds": 30.0}


@pytest.fixture(scope="module")
def standby(clusters):
    clusters.reset_chain()
    make_standby(clusters)
    return clusters


async def first_event(trigger: PgShiftPollTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("trigger ended without an event")


def receiver_rows(cl) -> int:
    return sql(cl, cl.b, "SELECT count(*) FROM pg_stat_wal_receiver")[0][0]


def test_stopped_receiver_blocks_the_sensor_until_it_catches_up(standby):
    cl = standby
    assert check_wal_lag(**KWARGS).done
    conninfo = sql(cl, cl.b, "SHOW primary_conninfo")[0][0]
    sql(cl, cl.b, "ALTER SYSTEM SET primary_conninfo = ''")
    sql(cl, cl.b, "SELECT pg_reload_conf()")
    try:
        wait_for(lambda: receiver_rows(cl) == 0, 30, what="B's WAL receiver to stop")
        sql(cl, cl.a, "INSERT INTO orders (customer, amount, note) VALUES (1, 1, 'while B is cut off')")
        reading = check_wal_lag(**KWARGS)
        assert not reading.done
        assert "B's WAL receiver is not running" in reading.message
        config = chain_config(physical_slot_name=NAMES["physical_slot"], wal_lag_max_bytes=16 * 2**20,
                              wal_lag_max_seconds=30.0)
        assert WalLagSensor(task_id="lag", deferrable=False, config=config).poke({}) is False
        event = asyncio.run(first_event(PgShiftPollTrigger("wal_lag", KWARGS, poll_interval=0.2, timeout=1.0)))
        assert event["status"] == "timeout"
        assert "not running" in event["message"]
    finally:
        sql(cl, cl.b, "ALTER SYSTEM SET primary_conninfo = %s", (conninfo,))
        sql(cl, cl.b, "SELECT pg_reload_conf()")
    # A zero-byte threshold: success then means B replayed all of A's WAL, the row written while cut off too.
    caught_up = {**KWARGS, "max_bytes": 0}
    event = asyncio.run(first_event(PgShiftPollTrigger("wal_lag", caught_up, poll_interval=0.2, timeout=60)))
    assert event["status"] == "success", event["message"]
    assert event["details"]["lag_bytes"] == 0
    assert sql(cl, cl.b, "SELECT count(*) FROM orders WHERE note = 'while B is cut off'")[0][0] == 1


def test_threshold_in_bytes_is_enforced(standby):
    reading = check_wal_lag(**{**KWARGS, "max_bytes": -1})
    assert not reading.done
    assert "over the threshold of -1 bytes" in reading.message


def figures(lag_bytes: int, replay_lag_s: float | None) -> dict:
    return {"a": {"active": True, "state": "streaming", "lag_bytes": lag_bytes, "replay_lag_s": replay_lag_s,
                  "current_lsn": "0/10", "replay_lsn": "0/8"},
            "b": {"in_recovery": True, "status": "streaming", "slot_name": "s", "replay_lsn": "0/8"}}


def test_null_replay_lag_counts_as_zero_only_when_lsns_are_equal():
    assert evaluate_wal_lag(figures(0, None), "s", 100, 1).done
    pending = evaluate_wal_lag(figures(8, None), "s", 100, 1)
    assert not pending.done
    assert "unknown (NULL) with 8 bytes not yet replayed" in pending.message
    assert not evaluate_wal_lag(figures(8, 2.5), "s", 100, 1).done


def test_a_missing_slot_is_fatal_on_a_real_a(standby):
    """Waiting cannot bring a slot back: the sensor and the gate stop at once, naming it."""
    reading = check_wal_lag(**{**KWARGS, "physical_slot": "no_such_slot"})
    assert not reading.done and reading.fatal
    assert "A has no physical replication slot 'no_such_slot'" in reading.message


def test_a_promoted_b_is_fatal_a_stopped_receiver_is_not():
    promoted = figures(0, None)
    promoted["b"]["in_recovery"] = False
    reading = evaluate_wal_lag(promoted, "s", 100, 1)
    assert not reading.done and reading.fatal and "B is not in recovery" in reading.message
    stopped = figures(0, None)
    stopped["b"]["status"] = None
    reading = evaluate_wal_lag(stopped, "s", 100, 1)
    assert not reading.done and not reading.fatal
