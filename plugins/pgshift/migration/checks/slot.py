"""A logical slot's health, judged once for both directions: B's slot read by C (the chain), and after the cutover
the way back's slot on C read by A.

Three judgements of one reading (:class:`~pgshift.migration.hooks.states.SlotState`, ``logical_slot_state.sql``):

- :func:`slot_invalidation`: the slot can no longer be used (conflicting, an invalidation reason, or
  ``wal_status = lost``); waiting cannot mend it.
- :func:`slot_lag_problems`: the slot is consumed and its consumer's confirmation trails the server's position by
  at most a limit. The lag checks wait on it (:mod:`pgshift.migration.checks.cdc_lag`,
  :mod:`pgshift.migration.checks.reverse`), with :func:`slot_lag_reading` around it.
- :func:`slot_wal_problems`: the WAL the slot needs is safe: not ``unreserved``, ``safe_wal_size`` above a floor,
  the WAL it keeps under a limit. Validation adds it with its own limits (:class:`WalLimits`).

Each direction speaks of its slot in its own words (:class:`SlotWords`): a message is data here, its whole text
written once in the module of its direction, so that a message a user quotes is found by searching for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from pgshift.common.checks.result import CheckResult

if TYPE_CHECKING:
    from pgshift.migration.hooks.states import SlotState


@dataclass(frozen=True)
class SlotWords:
    """One direction's messages about its slot, as :meth:`str.format` templates: ``{slot}`` is the slot's quoted
    name; the other placeholders are named with each field."""

    missing: str  # no such slot on the server
    invalidated: str  # {conflicting}, {invalidation_reason}, {wal_status}
    inactive: str  # nothing consumes the slot: its lag figure means nothing
    unconfirmed: str  # the consumer has confirmed nothing yet
    lagging: str  # {lag}, {limit}
    in_bounds: str  # {lag}
    unreserved: str  # its WAL is about to be removed (max_slot_wal_keep_size)
    near_loss: str  # {safe}, {floor}
    retained: str  # {retained}, {limit}


@dataclass(frozen=True)
class WalLimits:
    """How much WAL safety validation asks of a slot (the validate task's ``min_safe_wal_bytes`` and
    ``max_retained_wal_bytes``)."""

    min_safe_wal_bytes: int  # safe_wal_size below this: the slot is that close to losing its WAL
    max_retained_wal_bytes: int  # the WAL the slot keeps on its server (from restart_lsn) above this: a problem


def slot_invalidation(state: SlotState, words: SlotWords) -> str | None:
    """Why the slot can no longer be used, or None."""
    if state.conflicting or state.invalidation_reason or state.wal_status == "lost":
        return words.invalidated.format(slot=repr(state.slot_name), conflicting=state.conflicting,
                                        invalidation_reason=state.invalidation_reason, wal_status=state.wal_status)
    return None


def slot_lag_problems(state: SlotState, words: SlotWords, max_bytes: int, require_active: bool = True) -> list[str]:
    """Not consumed (when ``require_active``), nothing confirmed yet, or a lag over ``max_bytes``."""
    slot = repr(state.slot_name)
    problems = []
    if require_active and not state.active:
        problems.append(words.inactive.format(slot=slot))
    if state.lag_bytes is None:
        problems.append(words.unconfirmed.format(slot=slot))
    elif state.lag_bytes > max_bytes:
        problems.append(words.lagging.format(slot=slot, lag=state.lag_bytes, limit=max_bytes))
    return problems


def wal_unreserved(state: SlotState) -> bool:
    """The slot's WAL is past max_slot_wal_keep_size: the next checkpoint may remove it."""
    return state.wal_status == "unreserved"


def slot_wal_problems(state: SlotState, words: SlotWords, limits: WalLimits) -> list[str]:
    """``unreserved``, ``safe_wal_size`` under the floor, retained WAL over the limit (an invalidated slot is
    :func:`slot_invalidation`'s to name)."""
    slot = repr(state.slot_name)
    problems = []
    if wal_unreserved(state):
        problems.append(words.unreserved.format(slot=slot))
    if state.safe_wal_size is not None and state.safe_wal_size < limits.min_safe_wal_bytes:
        problems.append(words.near_loss.format(slot=slot, safe=state.safe_wal_size, floor=limits.min_safe_wal_bytes))
    if state.retained_bytes is not None and state.retained_bytes > limits.max_retained_wal_bytes:
        problems.append(words.retained.format(slot=slot, retained=state.retained_bytes,
                                              limit=limits.max_retained_wal_bytes))
    return problems


def slot_lag_reading(state: SlotState | None, slot: str, words: SlotWords, max_bytes: int,
                     require_active: bool = True) -> CheckResult:
    """A lag check's result: fatal when the slot is missing or invalidated (waiting cannot help), else done when
    :func:`slot_lag_problems` finds nothing. The details are the reading, whole (``dataclasses.asdict``)."""
    if state is None:
        return CheckResult(False, words.missing.format(slot=repr(slot)), fatal=True)
    details = asdict(state)
    invalid = slot_invalidation(state, words)
    if invalid:
        return CheckResult(False, invalid, details, fatal=True)
    problems = slot_lag_problems(state, words, max_bytes, require_active)
    if problems:
        return CheckResult(False, "; ".join(problems), details)
    return CheckResult(True, words.in_bounds.format(slot=repr(slot), lag=state.lag_bytes), details)
