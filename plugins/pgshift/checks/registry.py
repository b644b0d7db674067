"""Checks by name, so that a serialized trigger names a check instead of pickling a callable."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pgshift.checks.result import CheckResult

CHECKS: dict[str, str] = {
    "wal_lag": "pgshift.checks.wal_lag:check_wal_lag",
    "subscription_synced": "pgshift.checks.subscription:check_subscription_synced",
    "cdc_lag": "pgshift.checks.cdc_lag:check_cdc_lag",
    "dms_task_running": "pgshift.checks.dms:check_dms_task_running",
    "dms_task": "pgshift.checks.dms:check_dms_task",
    "citus_rebalance": "pgshift.citus_status:read_rebalance",
}


def get_check(name: str) -> Callable[..., CheckResult]:
    try:
        module, func = CHECKS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown check {name!r}; known: {', '.join(sorted(CHECKS))}") from None
    return getattr(importlib.import_module(module), func)


def run_check(name: str, kwargs: dict[str, Any]) -> CheckResult:
    """Run a check; a connection error is a reading ("cannot reach ..."), not a crash."""
    check = get_check(name)  # an unknown name is a programming error, not a reading
    try:
        return check(**kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure to read is "not done", reported as such
        return CheckResult(False, f"{name}: could not read the figures: {type(exc).__name__}: {exc}".strip())
