"""The way back after the cutover, C -> A: the slot on C and A's subscription reading it.

The cutover arms a publication and a logical slot on C and a subscription on A of the same name as the slot
(``fallback_subscription_name``); production writes on C, and every change reaches A (and B, A's standby).

- :class:`ReverseLagCheck`, read on C: the slot exists, is not invalidated, is in use (A's walsender), and A's
  confirmed position trails C's current WAL position by at most ``max_bytes``. WAL pressure is on C now: the
  slot keeps C's WAL from its ``restart_lsn`` (``retained_bytes``) for as long as A is behind.
- :class:`ReverseSubscriptionCheck`, read on A: the subscription exists, is enabled and has an apply worker
  (else it is *stopped*, and named so), and has no current apply or sync error. Errors are judged as the
  chain's subscription check judges them on C (:func:`pgshift.migration.checks.subscription.judge_errors`): a count
  from the past that the worker recovered from is a warning, a current one a problem.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult
from pgshift.migration.checks.slot import SlotWords, slot_lag_reading
from pgshift.migration.checks.subscription import (
    ERROR_WINDOW_SECONDS,
    WORKER_FIGURES,
    error_counts,
    log_hint,
    second_sample,
)

C_SLOT = SlotWords(
    missing="C has no slot {slot}: the way back (C -> A) is not armed, or its slot was dropped; A cannot follow C",
    invalidated="the way back's slot {slot} on C is invalidated (invalidation_reason={invalidation_reason}, "
                "wal_status={wal_status}): A can no longer follow C, so a fallback would lose C's writes",
    inactive="nothing is consuming the way back's slot {slot} on C (inactive): A's subscription is not connected, "
             "and C keeps WAL for it",
    unconfirmed="the way back's slot {slot} on C has no confirmed position yet",
    lagging="C -> A lag {lag} bytes is over the threshold of {limit} bytes",
    in_bounds="C -> A lag on slot {slot}: {lag} bytes",
    unreserved="the way back's slot {slot} on C is unreserved: its WAL is about to be removed "
               "(max_slot_wal_keep_size); A must catch up now, or the way back is lost",
    near_loss="the way back's slot {slot} on C is {safe} bytes from losing its WAL (floor {floor})",
    retained="the way back's slot {slot} keeps {retained} bytes of WAL on C (limit {limit}): A is far behind, and "
             "C's storage fills",
)
"""The way back's slot on C, read by A's subscription."""


def check_reverse_lag(conn_c: str, slot: str, max_bytes: int, require_active: bool = True) -> CheckResult:
    from pgshift.migration.hooks.target import TargetHook

    with TargetHook(conn_c) as c:
        state = c.reverse_slot(slot)
    return slot_lag_reading(state, slot, C_SLOT, max_bytes, require_active)


@dataclass(frozen=True)
class ReverseLagCheck(Check):
    """C -> A: the way back's slot ``slot`` on C is consumed and trails C's current LSN by at most ``max_bytes``."""

    name: ClassVar[str] = "reverse_lag"
    conn_c: str
    slot: str
    max_bytes: int
    require_active: bool = True

    def take_reading(self) -> CheckResult:
        return check_reverse_lag(self.conn_c, self.slot, self.max_bytes, self.require_active)


def check_reverse_subscription(conn_a: str, subscription: str,
                               error_window_seconds: float = ERROR_WINDOW_SECONDS) -> CheckResult:
    from pgshift.migration.hooks.primary import PrimaryHook

    with PrimaryHook(conn_a) as a:
        state = a.subscription(subscription)
        if state is None:
            return CheckResult(False, f"A has no reverse subscription {subscription}: the way back (C -> A) is not "
                                      "armed, or it was dropped", fatal=True)
        first = a.apply_worker(subscription)
        worker: dict[str, Any] = {} if first is None else asdict(first)
        details: dict[str, Any] = {"enabled": state.enabled, "tables": state.tables,
                                   "apply_error_count": state.apply_error_count,
                                   "sync_error_count": state.sync_error_count}
        details.update({k: worker[k] for k in WORKER_FIGURES if k in worker})
        if not state.enabled:
            return CheckResult(False, f"reverse subscription {subscription} on A is stopped: it is disabled "
                                      f"({error_counts(details)}), so C's writes do not reach A; once the cause is "
                                      f"fixed ({log_hint('A')}), ALTER SUBSCRIPTION {subscription} ENABLE on A",
                               details, fatal=True)
        if not worker or worker["apply_worker_pid"] is None:
            details["errors"] = "unknown"
            return CheckResult(False, f"reverse subscription {subscription} on A is stopped: no apply worker runs "
                                      f"for it ({error_counts(details)}); C's writes do not reach A; {log_hint('A')}",
                               details)
        if not int(worker["apply_error_count"]) + int(worker["sync_error_count"]):
            details["errors"] = "none"
            return CheckResult(True, f"reverse subscription {subscription} on A: applying, no errors", details)
        verdict, message = second_sample(a, subscription, worker, details, error_window_seconds, where="A")
    if verdict == "current":
        return CheckResult(False, f"reverse subscription {subscription} on A: {message}", details)
    return CheckResult(True, f"reverse subscription {subscription} on A: {message}", details, warning=True)


@dataclass(frozen=True)
class ReverseSubscriptionCheck(Check):
    """C -> A: A's subscription ``subscription`` enabled, applying, without a current error."""

    name: ClassVar[str] = "reverse_subscription"
    conn_a: str
    subscription: str
    error_window_seconds: float = ERROR_WINDOW_SECONDS

    def take_reading(self) -> CheckResult:
        return check_reverse_subscription(self.conn_a, self.subscription, self.error_window_seconds)
