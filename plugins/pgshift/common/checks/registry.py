"""The checks' old names: ``run_check("wal_lag", {...})`` builds the :class:`~pgshift.common.checks.base.Check`
so named.

Before checks were objects, a trigger carried a check's name and its keyword arguments, and callers read a
check by name. Such a trigger, serialized by an older pgshift and resumed by a newer triggerer, still names
one (see :mod:`pgshift.common.triggers.poll`); the names and arguments are the check classes' ``name`` and fields.
New code builds the check object itself.
"""

from __future__ import annotations

import importlib
from typing import Any

from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult

# The old names, each with its check class by classpath: the domains' checks are imported when a name is read,
# so pgshift.common imports neither pgshift.migration nor pgshift.citus (tests/test_package_layout.py checks the
# classes and their names agree).
CHECK_CLASSPATHS: dict[str, str] = {
    "wal_lag": "pgshift.migration.checks.wal_lag.WalLagCheck",
    "subscription_synced": "pgshift.migration.checks.subscription.SubscriptionSyncedCheck",
    "cdc_lag": "pgshift.migration.checks.cdc_lag.CdcLagCheck",
    "dms_task_running": "pgshift.migration.checks.dms_task.DmsTaskRunningCheck",
    "dms_task": "pgshift.migration.checks.dms_task.DmsTaskCheck",
    "citus_rebalance": "pgshift.citus.status.RebalanceCheck",
}


def check_class(name: str) -> type[Check]:
    try:
        classpath = CHECK_CLASSPATHS[name]
    except KeyError:
        raise ValueError(f"unknown check {name!r}; known: {', '.join(sorted(CHECK_CLASSPATHS))}") from None
    module, _, attr = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Check)):
        raise TypeError(f"{classpath} is not a pgshift check")
    return cls


def run_check(name: str, kwargs: dict[str, Any]) -> CheckResult:
    """Read the check named ``name``; a connection error is a reading ("cannot reach ..."), not a crash."""
    cls = check_class(name)  # an unknown name is a programming error, not a reading
    try:
        check = cls(**kwargs)
    except Exception as exc:  # noqa: BLE001 - as before: arguments the check refuses are a failed reading
        return CheckResult(False, f"{name}: could not read the figures: {type(exc).__name__}: {exc}".strip())
    return check.read()
