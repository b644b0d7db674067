"""The checks' old names: ``run_check("wal_lag", {...})`` builds the :class:`~pgshift.common.checks.base.Check`
so named.

Before checks were objects, a trigger carried a check's name and its keyword arguments, and callers read a
check by name. Such a trigger, serialized by an older pgshift and resumed by a newer triggerer, still names
one (see :mod:`pgshift.common.triggers.poll`); the names and arguments are the check classes' ``name`` and fields.
New code builds the check object itself.
"""

from __future__ import annotations

from typing import Any

from pgshift.citus.status import RebalanceCheck
from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult
from pgshift.migration.checks.cdc_lag import CdcLagCheck
from pgshift.migration.checks.dms_task import DmsTaskCheck, DmsTaskRunningCheck
from pgshift.migration.checks.subscription import SubscriptionSyncedCheck
from pgshift.migration.checks.wal_lag import WalLagCheck

CHECKS: dict[str, type[Check]] = {cls.name: cls for cls in (
    WalLagCheck, SubscriptionSyncedCheck, CdcLagCheck, DmsTaskRunningCheck, DmsTaskCheck, RebalanceCheck)}


def check_class(name: str) -> type[Check]:
    try:
        return CHECKS[name]
    except KeyError:
        raise ValueError(f"unknown check {name!r}; known: {', '.join(sorted(CHECKS))}") from None


def run_check(name: str, kwargs: dict[str, Any]) -> CheckResult:
    """Read the check named ``name``; a connection error is a reading ("cannot reach ..."), not a crash."""
    cls = check_class(name)  # an unknown name is a programming error, not a reading
    try:
        check = cls(**kwargs)
    except Exception as exc:  # noqa: BLE001 - as before: arguments the check refuses are a failed reading
        return CheckResult(False, f"{name}: could not read the figures: {type(exc).__name__}: {exc}".strip())
    return check.read()
