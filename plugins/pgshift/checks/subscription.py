"""Kept path: ``pgshift.checks.subscription``, a re-export of
:mod:`pgshift.migration.checks.subscription`, where the code lives.

Why it exists: serialized data names it: a check's classpath (Check.serialize) in a trigger deferred by an
older pgshift.
"""

from __future__ import annotations

from pgshift.migration.checks.subscription import (
    ERROR_WINDOW_SECONDS,
    LOG_HINT,
    RESET_HINT,
    SubscriptionSyncedCheck,
    check_subscription_synced,
    judge_errors,
    log_hint,
    nudge_primary,
    window_seconds,
)

__all__ = [
    "ERROR_WINDOW_SECONDS",
    "LOG_HINT",
    "RESET_HINT",
    "SubscriptionSyncedCheck",
    "check_subscription_synced",
    "judge_errors",
    "log_hint",
    "nudge_primary",
    "window_seconds",
]
