"""B -> C (native): every table of the subscription synced, an apply worker running, no *current* error.

An apply or sync error is a problem while it is current, not because it once happened.
``pg_stat_subscription_stats.apply_error_count`` / ``sync_error_count`` are cumulative: a restart of B
makes C's apply worker lose its publisher, count one error, reconnect after ``wal_retrieve_retry_interval``
(5 s by default) and catch up with nothing lost, and the count stays at 1 until someone runs
``pg_stat_reset_subscription_stats()``. Treating that 1 as a live error blocked validation, the cutover
gate and a setup re-run for good.

How "when" is decided (written down here because everything below rests on it):

- An error ends the worker process that hit it: the apply worker exits with the ERROR and the launcher
  starts a new one after ``wal_retrieve_retry_interval``; a live error (a unique violation on C, a
  missing table, a publisher that refuses the connection) is retried that often. So the current apply
  worker's ``backend_start`` (``pg_stat_activity``, for the pid ``pg_stat_subscription`` names) is when
  it last (re)started, i.e. since when it has run without an error: every error counted happened
  before it. PostgreSQL keeps no time of the last error (only ``stats_reset``, the start of the count,
  which the details carry), and the error text is only in C's server log.
- With a zero count, one sample decides, as before. With a non-zero count, a second sample is taken
  after a window longer than ``wal_retrieve_retry_interval`` (``error_window_seconds``, 6 s, raised to
  C's ``wal_retrieve_retry_interval`` + 1 s if C's is longer), so that an error retried every 5 s must
  show within it. The error is **current** if at either sample there is no apply worker, or the count
  grew during the window, or the apply worker restarted during it (another pid or ``backend_start``).
  Otherwise it is **recovered**: the result is done, with ``warning=True`` and a message naming the
  counts and "the apply worker has run since <backend_start> without a new error (recovered)".
- The window is taken only when it can change the verdict: a reading already out of bounds for
  another reason (tables still syncing, no apply worker) says so at once, with the counts.
- The fourth way an error can be current, C's confirmed position not advancing while B has WAL for
  it (an apply worker that is alive but stuck), is seen on B's side by the B -> C lag check
  (``pgshift.migration.checks.cdc_lag``: B's replay LSN against the slot's ``confirmed_flush_lsn``, the slot
  active), which the gate, the validation and setup's ``wait_cdc_lag`` read beside this one.
- Known limit: a live error that takes longer than the window to recur after each restart (a worker
  that first decodes a very large transaction) reads as recovered once; the B -> C lag check still
  holds the gate, since C confirms nothing while it fails.

Fatal (waiting cannot help; the sensor, the gate and validation stop at once): no subscription on C, a
disabled subscription (``disable_on_error`` disables it on an error: it stays so until someone enables
it), a subscription with no tables (an empty publication on B; the table list is fixed at CREATE
SUBSCRIPTION / REFRESH PUBLICATION, not by waiting).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult

if TYPE_CHECKING:
    from pgshift.common.hooks.postgres import PgShiftHook

ERROR_WINDOW_SECONDS = 6.0  # longer than wal_retrieve_retry_interval's default of 5 s
RESET_HINT = ("to clear the counters once the cause is fixed: SELECT pg_stat_reset_subscription_stats(oid) "
              "FROM pg_subscription WHERE subname = '<subscription>'")
def log_hint(where: str = "C") -> str:
    return f"see {where}'s server log for the ERROR of the logical replication apply worker"


LOG_HINT = log_hint("C")


def nudge_primary(conn_a: str) -> None:
    """A running-xacts record on A lets pending slot creations on the standby B finish."""
    from pgshift.migration.hooks.primary import PrimaryHook

    with PrimaryHook(conn_a) as a:
        a.log_standby_snapshot()


WORKER_FIGURES = ("apply_error_count", "sync_error_count", "apply_worker_pid", "apply_worker_started", "stats_reset")
"""What a result's details take from an apply worker's sample (:class:`~pgshift.migration.hooks.states.ApplyWorker`)."""


def error_counts(w: dict[str, Any]) -> str:
    return f"apply_error_count={w['apply_error_count']}, sync_error_count={w['sync_error_count']}"



def _total(w: dict[str, Any]) -> int:
    return int(w["apply_error_count"]) + int(w["sync_error_count"])


def _since(w: dict[str, Any]) -> str:
    return w["apply_worker_started"] or f"its start (pid {w['apply_worker_pid']}; the time is not visible to this role)"


def _counted_since(w: dict[str, Any]) -> str:
    return f"counted since {w['stats_reset']}" if w["stats_reset"] else "counted since the subscription was created"


def window_seconds(error_window_seconds: float, worker: dict[str, Any]) -> float:
    """The window between the two samples: longer than C's wal_retrieve_retry_interval."""
    retry = (worker.get("retry_interval_ms") or 5000) / 1000.0
    return max(float(error_window_seconds), retry + 1.0)


def judge_errors(subscription: str, first: dict[str, Any], second: dict[str, Any] | None,
                 window: float, where: str = "C") -> tuple[str, str]:
    """("current" | "recovered", message) from two samples ``window`` seconds apart (the first one's
    count is non-zero). ``second`` None: the subscription vanished during the window. ``where``: the subscriber
    (C; A for the way back)."""
    hint = log_hint(where)
    if second is None:
        return "current", (f"subscription {subscription!r} disappeared from {where} during the {window:g} s error "
                           "window")
    if second["apply_worker_pid"] is None:
        return "current", (f"no apply worker is running for subscription {subscription!r} on {where} after the "
                           f"{window:g} s window, {error_counts(second)}: an apply error is current (the worker is "
                           f"restarted every {second['retry_interval_ms'] / 1000:g} s and fails again); {hint}")
    if _total(second) > _total(first):
        return "current", (f"apply error is current on {where}: the error counters grew during the {window:g} s "
                           f"window ({error_counts(first)} -> {error_counts(second)}); the apply worker fails and is "
                           f"retried every {second['retry_interval_ms'] / 1000:g} s, so {where} stalls; {hint}")
    if (second["apply_worker_pid"], second["apply_worker_started"]) != (first["apply_worker_pid"],
                                                                        first["apply_worker_started"]):
        return "current", (f"the apply worker of subscription {subscription!r} restarted during the {window:g} s "
                           f"window (pid {first['apply_worker_pid']} -> {second['apply_worker_pid']}), "
                           f"{error_counts(second)}: an error may be current; {hint}")
    return "recovered", (f"{error_counts(second)} on {where} ({_counted_since(second)}): the apply worker has run "
                         f"since {_since(second)} without a new error (recovered): none in a {window:g} s window; "
                         f"{RESET_HINT.replace('<subscription>', subscription)}")


def second_sample(hook: PgShiftHook, subscription: str, first: dict[str, Any], details: dict[str, Any],
                  error_window_seconds: float, where: str = "C") -> tuple[str, str]:
    """Errors counted, everything else in bounds: are they current? A second sample of the apply worker after the
    window, judged by :func:`judge_errors`; ``details`` get the verdict, the window and the second sample's
    figures. ``where``: the subscriber (C; A for the way back)."""
    window = window_seconds(error_window_seconds, first)
    time.sleep(window)
    again = hook.apply_worker(subscription)
    second = None if again is None else asdict(again)
    verdict, message = judge_errors(subscription, first, second, window, where=where)
    details.update(errors=verdict, error_window_seconds=window)
    if second:
        details.update({k: second.get(k) for k in WORKER_FIGURES})
    return verdict, message


def check_subscription_synced(conn_c: str, subscription: str, conn_a: str | None = None,
                              error_window_seconds: float = ERROR_WINDOW_SECONDS) -> CheckResult:
    from pgshift.migration.hooks.target import TargetHook

    with TargetHook(conn_c) as c:
        state = c.subscription(subscription)
        if state is None:
            return CheckResult(False, f"C has no subscription {subscription!r}", fatal=True)
        # As dicts from here: the readings go into the result's details, and judge_errors reads them.
        st = asdict(state)
        first = c.apply_worker(subscription)
        worker: dict[str, Any] = {} if first is None else asdict(first)
        details = {k: st[k] for k in ("tables", "ready", "pending", "apply_error_count", "sync_error_count",
                                      "apply_workers")}
        details.update({k: worker.get(k) for k in ("apply_worker_pid", "apply_worker_started", "stats_reset")})
        if worker:
            details.update(apply_error_count=worker["apply_error_count"], sync_error_count=worker["sync_error_count"])
        if not st["enabled"]:
            return CheckResult(False, f"subscription {subscription!r} on C is disabled (an apply error disables it "
                                      "when the subscription has disable_on_error; fix the cause, then ALTER "
                                      "SUBSCRIPTION ... ENABLE)", details, fatal=True)
        if st["tables"] == 0:
            return CheckResult(False, f"subscription {subscription!r} has no tables (is the publication empty on "
                                      "B? add tables on A, then ALTER SUBSCRIPTION ... REFRESH PUBLICATION)",
                               details, fatal=True)
        problems = []
        if st["ready"] < st["tables"]:
            problems.append(f"{st['ready']}/{st['tables']} tables ready; waiting for {st['pending']}")
            if conn_a:
                # Each table-sync worker creates a slot on the standby B, which waits for a
                # running-xacts record from A: give it one rather than wait up to 15 s (or forever).
                nudge_primary(conn_a)
        errors = _total(worker) if worker else int(st["apply_error_count"]) + int(st["sync_error_count"])
        if not worker or worker["apply_worker_pid"] is None:
            problems.append("no apply worker is running for the subscription on C"
                            + (f" ({error_counts(details)}: an apply error is probably current, retried every "
                               f"{(worker.get('retry_interval_ms') or 5000) / 1000:g} s; {LOG_HINT})"
                               if errors else ""))
        if problems:
            details["errors"] = "unknown" if errors else "none"
            if errors and worker and worker["apply_worker_pid"] is not None:
                problems.append(f"{error_counts(details)} on C (not judged while the reading is out of bounds)")
            return CheckResult(False, "; ".join(problems), details)
        if not errors:
            details["errors"] = "none"
            return CheckResult(True, f"subscription {subscription!r}: all {st['tables']} tables ready, no errors",
                               details)
        # Errors counted, everything else in bounds: are they current? A second sample after the window.
        verdict, message = second_sample(c, subscription, worker, details, error_window_seconds)
    if verdict == "current":
        return CheckResult(False, message, details)
    return CheckResult(True, f"subscription {subscription!r}: all {st['tables']} tables ready; {message}", details,
                       warning=True)


@dataclass(frozen=True)
class SubscriptionSyncedCheck(Check):
    """B -> C (native): every table of ``subscription`` on C ready, an apply worker running, no current error.

    With ``conn_a``, a reading that finds tables still syncing nudges A (see :func:`nudge_primary`).
    """

    name: ClassVar[str] = "subscription_synced"
    conn_c: str
    subscription: str
    conn_a: str | None = None
    error_window_seconds: float = ERROR_WINDOW_SECONDS

    def take_reading(self) -> CheckResult:
        return check_subscription_synced(self.conn_c, self.subscription, self.conn_a, self.error_window_seconds)
