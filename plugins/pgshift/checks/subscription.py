"""B -> C (native): every table of the subscription synced, an apply worker running, no errors."""

from __future__ import annotations

from pgshift.checks.result import CheckResult
from pgshift.hooks.postgres import PgShiftHook


def nudge_primary(conn_a: str) -> None:
    """A running-xacts record on A lets pending slot creations on the standby B finish."""
    with PgShiftHook(conn_a) as a:
        a.execute("log_standby_snapshot")


def check_subscription_synced(conn_c: str, subscription: str, conn_a: str | None = None) -> CheckResult:
    with PgShiftHook(conn_c) as c:
        st = c.fetch_one("subscription_state", (subscription,))
    if st is None:
        return CheckResult(False, f"C has no subscription {subscription!r}", fatal=True)
    details = {k: st[k] for k in ("tables", "ready", "pending", "apply_error_count", "sync_error_count",
                                  "apply_workers")}
    problems = []
    if not st["enabled"]:
        return CheckResult(False, f"subscription {subscription!r} on C is disabled", details, fatal=True)
    if st["tables"] == 0:
        problems.append(f"subscription {subscription!r} has no tables (is the publication empty on B?)")
    elif st["ready"] < st["tables"]:
        problems.append(f"{st['ready']}/{st['tables']} tables ready; waiting for {st['pending']}")
        if conn_a:
            # Each table-sync worker creates a slot on the standby B, which waits for a
            # running-xacts record from A: give it one rather than wait up to 15 s (or forever).
            nudge_primary(conn_a)
    if st["apply_error_count"] or st["sync_error_count"]:
        problems.append(
            f"apply_error_count={st['apply_error_count']}, sync_error_count={st['sync_error_count']} on C "
            "(the apply worker retries and stalls; see C's server log; after fixing the cause, "
            "SELECT pg_stat_reset_subscription_stats(oid) FROM pg_subscription WHERE subname = ...)")
    if st["apply_workers"] == 0:
        problems.append("no apply worker is running for the subscription on C")
    if problems:
        return CheckResult(False, "; ".join(problems), details)
    return CheckResult(True, f"subscription {subscription!r}: all {st['tables']} tables ready, no errors", details)
