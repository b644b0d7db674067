"""Kept path: ``pgshift.checks.subscription``, a re-export of
:mod:`pgshift.migration.checks.subscription`, where the code lives.

Why it exists: serialized data names it: a check's classpath (Check.serialize) in a trigger deferred by an
older pgshift.
"""

from __future__ import annotations

from pgshift.migration.checks.subscription import (
    ERROR_WINDOW_SECONDS,
    RESET_HINT,
    log_hint,
    LOG_HINT,
    nudge_primary,
    window_seconds,
    judge_errors,
    check_subscription_synced,
    SubscriptionSyncedCheck,
)

__all__ = [
    "ERROR_WINDOW_SECONDS",
    "RESET_HINT",
    "log_hint",
    "LOG_HINT",
    "nudge_primary",
    "window_seconds",
    "judge_errors",
    "check_subscription_synced",
    "SubscriptionSyncedCheck",
]
