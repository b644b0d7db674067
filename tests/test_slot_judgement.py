"""One judgement of a logical slot for both directions (B's slot for C, the way back's slot on C for A): a reading in,
the problems out, each in its direction's words. The readings against real servers are in test_validation.py,
test_validation_after_cutover.py and test_logical_slot.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pgshift.migration.checks.cdc_lag import B_SLOT
from pgshift.migration.checks.reverse import C_SLOT
from pgshift.migration.checks.slot import (
    WalLimits,
    slot_invalidation,
    slot_lag_problems,
    slot_lag_reading,
    slot_wal_problems,
    wal_unreserved,
)
from pgshift.migration.hooks.states import SlotState

LIMITS = WalLimits(min_safe_wal_bytes=1000, max_retained_wal_bytes=5000)
HEALTHY = SlotState(slot_name="s", plugin="pgoutput", slot_type="logical", database="app", active=True,
                    wal_status="reserved", safe_wal_size=1000, conflicting=False, invalidation_reason=None,
                    confirmed_flush_lsn="0/100", position_lsn="0/200", lag_bytes=256, retained_bytes=5000)
DIRECTIONS = {"B": B_SLOT, "C": C_SLOT}


@pytest.mark.parametrize("server", DIRECTIONS)
def test_a_slot_at_its_limits_has_no_problem(server):
    """Exactly at the floor, the retained limit and the lag limit is still in bounds."""
    words = DIRECTIONS[server]
    assert slot_wal_problems(HEALTHY, words, LIMITS) == []
    assert slot_lag_problems(HEALTHY, words, max_bytes=256) == []
    assert not wal_unreserved(HEALTHY) and slot_invalidation(HEALTHY, words) is None
    # Figures a server does not report (safe_wal_size without max_slot_wal_keep_size) judge nothing.
    assert slot_wal_problems(replace(HEALTHY, safe_wal_size=None, retained_bytes=None), words, LIMITS) == []


@pytest.mark.parametrize(("server", "expected"), [
    ("B", "slot 's' on B is unreserved: its WAL is about to be removed (max_slot_wal_keep_size); C must catch up now"),
    ("C", "the way back's slot 's' on C is unreserved: its WAL is about to be removed (max_slot_wal_keep_size); "
          "A must catch up now, or the way back is lost"),
])
def test_unreserved(server, expected):
    state = replace(HEALTHY, wal_status="unreserved")
    assert slot_wal_problems(state, DIRECTIONS[server], LIMITS) == [expected]
    assert wal_unreserved(state)


@pytest.mark.parametrize(("server", "expected"), [
    ("B", "slot 's' on B is 999 bytes from losing its WAL (floor 1000)"),
    ("C", "the way back's slot 's' on C is 999 bytes from losing its WAL (floor 1000)"),
])
def test_safe_wal_size_under_the_floor(server, expected):
    state = replace(HEALTHY, safe_wal_size=999)
    assert slot_wal_problems(state, DIRECTIONS[server], LIMITS) == [expected]
    assert not wal_unreserved(state)


@pytest.mark.parametrize(("server", "expected"), [
    ("B", "slot 's' keeps 5001 bytes of WAL on B (limit 5000)"),
    ("C", "the way back's slot 's' keeps 5001 bytes of WAL on C (limit 5000): A is far behind, and C's storage "
          "fills"),
])
def test_retained_over_the_limit(server, expected):
    assert slot_wal_problems(replace(HEALTHY, retained_bytes=5001), DIRECTIONS[server], LIMITS) == [expected]


def test_every_wal_problem_at_once_each_on_its_own():
    """Validation lists each as its own problem (its count is in the failure's first line)."""
    state = replace(HEALTHY, wal_status="unreserved", safe_wal_size=0, retained_bytes=9000)
    unreserved, near_loss, retained = slot_wal_problems(state, B_SLOT, LIMITS)
    assert "is unreserved" in unreserved and "0 bytes from losing" in near_loss and "keeps 9000 bytes" in retained


@pytest.mark.parametrize(("server", "expected"), [
    ("B", "nothing is consuming slot 's' on B (inactive): its lag figure means nothing"),
    ("C", "nothing is consuming the way back's slot 's' on C (inactive): A's subscription is not connected, and C "
          "keeps WAL for it"),
])
def test_inactive(server, expected):
    state = replace(HEALTHY, active=False)
    assert slot_lag_problems(state, DIRECTIONS[server], max_bytes=256) == [expected]
    assert slot_lag_problems(state, DIRECTIONS[server], max_bytes=256, require_active=False) == []


@pytest.mark.parametrize(("server", "expected"), [
    ("B", "B->C lag 257 bytes is over the threshold of 256 bytes"),
    ("C", "C -> A lag 257 bytes is over the threshold of 256 bytes"),
])
def test_lagging(server, expected):
    assert slot_lag_problems(replace(HEALTHY, lag_bytes=257), DIRECTIONS[server], max_bytes=256) == [expected]


@pytest.mark.parametrize(("server", "expected"), [
    ("B", "slot 's' has no confirmed position yet"),
    ("C", "the way back's slot 's' on C has no confirmed position yet"),
])
def test_nothing_confirmed_yet(server, expected):
    assert slot_lag_problems(replace(HEALTHY, lag_bytes=None), DIRECTIONS[server], max_bytes=256) == [expected]


def test_inactive_and_lagging_are_one_reading_naming_both():
    reading = slot_lag_reading(replace(HEALTHY, active=False, lag_bytes=300), "s", C_SLOT, max_bytes=256)
    assert not reading.done and not reading.fatal
    assert reading.message == ("nothing is consuming the way back's slot 's' on C (inactive): A's subscription is "
                               "not connected, and C keeps WAL for it; C -> A lag 300 bytes is over the threshold of "
                               "256 bytes")
    assert reading.details["lag_bytes"] == 300 and reading.details["position_lsn"] == "0/200"


@pytest.mark.parametrize("broken", [{"conflicting": True}, {"invalidation_reason": "rows_removed"},
                                    {"wal_status": "lost"}], ids=lambda b: next(iter(b)))
def test_an_invalidated_slot_is_fatal_before_its_lag_is_judged(broken):
    state = replace(HEALTHY, lag_bytes=10**9, **broken)
    b = slot_lag_reading(state, "s", B_SLOT, max_bytes=256)
    assert b.fatal and not b.done
    assert b.message.startswith("logical slot 's' on B is invalidated (conflicting=")
    assert b.message.endswith("(C re-copies every table).")  # what to do, from INVALIDATED_HELP
    c = slot_lag_reading(state, "s", C_SLOT, max_bytes=256)
    assert c.fatal and c.message.startswith("the way back's slot 's' on C is invalidated (invalidation_reason=")
    assert c.message.endswith("A can no longer follow C, so a fallback would lose C's writes")
    assert "over the threshold" not in b.message + c.message


def test_a_missing_slot_is_fatal_and_a_healthy_one_done():
    missing = slot_lag_reading(None, "gone", B_SLOT, max_bytes=256)
    assert (missing.done, missing.fatal, missing.message, missing.details) == (
        False, True, "B has no replication slot 'gone'", {})
    assert slot_lag_reading(None, "gone", C_SLOT, max_bytes=256).message.startswith(
        "C has no slot 'gone': the way back (C -> A) is not armed")
    ok = slot_lag_reading(HEALTHY, "s", B_SLOT, max_bytes=256)
    assert (ok.done, ok.message) == (True, "B->C lag on slot 's': 256 bytes")
    assert slot_lag_reading(HEALTHY, "s", C_SLOT, max_bytes=256).message == "C -> A lag on slot 's': 256 bytes"
