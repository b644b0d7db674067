"""pgshift: an Airflow 3 provider for PostgreSQL migrations (A -> hot standby B -> Aurora C) and Citus scale-out.

The public API is ``__all__``: the hooks, operators, sensors, triggers and notifier a DAG uses, importable from
here or from their modules (``pgshift.operators.cutover.CutoverOperator``). Names are resolved on first use
(PEP 562), so ``import pgshift`` stays cheap when a DAG file is parsed. Anything not listed is internal.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    # hooks
    "PgShiftHook": "pgshift.hooks.postgres",
    "PrimaryHook": "pgshift.hooks.primary",
    "StandbyHook": "pgshift.hooks.standby",
    "TargetHook": "pgshift.hooks.target",
    "WayBackHook": "pgshift.hooks.fallback",
    "CitusHook": "pgshift.hooks.citus",
    "HostB": "pgshift.hooks.host",
    # hybrid_aurora_migration's operators, in the order the DAG runs them
    "ChainPreflightOperator": "pgshift.operators.preflight",
    "BasebackupOperator": "pgshift.operators.basebackup",
    "LogicalSlotOperator": "pgshift.operators.slot",
    "CreatePublicationOperator": "pgshift.operators.publication",
    "MigrateRolesOperator": "pgshift.operators.roles",
    "CopySchemaOperator": "pgshift.operators.schema",
    "CreateSubscriptionOperator": "pgshift.operators.subscription",
    "DmsReplicationInstanceOperator": "pgshift.operators.dms",
    "DmsEndpointsOperator": "pgshift.operators.dms",
    "DmsReplicationTaskOperator": "pgshift.operators.dms",
    "DmsStartTaskOperator": "pgshift.operators.dms",
    "ValidateChainOperator": "pgshift.operators.validate",
    "CutoverGateOperator": "pgshift.operators.cutover",
    "CutoverOperator": "pgshift.operators.cutover",
    "FenceWatchdogOperator": "pgshift.operators.fence_watchdog",
    "FallbackOperator": "pgshift.operators.fallback",
    "FinishOperator": "pgshift.operators.fallback",
    # citus_scale_out's operators
    "CitusPreflightOperator": "pgshift.operators.citus",
    "CitusAddNodesOperator": "pgshift.operators.citus",
    "CitusRebalancePlanOperator": "pgshift.operators.citus",
    "CitusRebalanceStartOperator": "pgshift.operators.citus",
    "CitusVerifyOperator": "pgshift.operators.citus",
    "CitusCloneBasebackupOperator": "pgshift.operators.citus_clone",
    "CitusAddClonesOperator": "pgshift.operators.citus_clone",
    "CitusClonePlanOperator": "pgshift.operators.citus_clone",
    "CitusPromoteClonesOperator": "pgshift.operators.citus_clone",
    "CitusCloneVerifyOperator": "pgshift.operators.citus_clone",
    # waits: a check object reads itself; a sensor reads it once, then defers to the trigger that polls it
    "Check": "pgshift.checks.base",
    "CheckResult": "pgshift.checks.result",
    "ChainLimits": "pgshift.checks.limits",
    "WalLagCheck": "pgshift.checks.wal_lag",
    "CdcLagCheck": "pgshift.checks.cdc_lag",
    "SubscriptionSyncedCheck": "pgshift.checks.subscription",
    "DmsTaskRunningCheck": "pgshift.checks.dms_task",
    "DmsTaskCheck": "pgshift.checks.dms_task",
    "RebalanceCheck": "pgshift.citus_status",
    "CloneLagCheck": "pgshift.citus_clone",
    # sensors and triggers
    "PgShiftPollSensor": "pgshift.sensors.poll",
    "WalLagSensor": "pgshift.sensors.replication",
    "SubscriptionSyncedSensor": "pgshift.sensors.replication",
    "CdcLagSensor": "pgshift.sensors.replication",
    "DmsTaskRunningSensor": "pgshift.sensors.replication",
    "CitusRebalanceSensor": "pgshift.sensors.citus",
    "CitusCloneLagSensor": "pgshift.sensors.citus",
    "PgShiftPollTrigger": "pgshift.triggers.poll",
    "FenceWatchdogTrigger": "pgshift.triggers.fence_watchdog",
    # notifier
    "DeadlineMissedNotifier": "pgshift.notifications.deadline",
}

__all__ = [
    "BasebackupOperator",
    "CdcLagCheck",
    "CdcLagSensor",
    "ChainLimits",
    "ChainPreflightOperator",
    "Check",
    "CheckResult",
    "CitusAddClonesOperator",
    "CitusAddNodesOperator",
    "CitusCloneBasebackupOperator",
    "CitusCloneLagSensor",
    "CitusClonePlanOperator",
    "CitusCloneVerifyOperator",
    "CitusHook",
    "CitusPreflightOperator",
    "CitusPromoteClonesOperator",
    "CitusRebalancePlanOperator",
    "CitusRebalanceSensor",
    "CitusRebalanceStartOperator",
    "CitusVerifyOperator",
    "CloneLagCheck",
    "CopySchemaOperator",
    "CreatePublicationOperator",
    "CreateSubscriptionOperator",
    "CutoverGateOperator",
    "CutoverOperator",
    "DeadlineMissedNotifier",
    "DmsEndpointsOperator",
    "DmsReplicationInstanceOperator",
    "DmsReplicationTaskOperator",
    "DmsStartTaskOperator",
    "DmsTaskCheck",
    "DmsTaskRunningCheck",
    "DmsTaskRunningSensor",
    "FallbackOperator",
    "FenceWatchdogOperator",
    "FenceWatchdogTrigger",
    "FinishOperator",
    "HostB",
    "LogicalSlotOperator",
    "MigrateRolesOperator",
    "PgShiftHook",
    "PgShiftPollSensor",
    "PgShiftPollTrigger",
    "PrimaryHook",
    "RebalanceCheck",
    "StandbyHook",
    "SubscriptionSyncedCheck",
    "SubscriptionSyncedSensor",
    "TargetHook",
    "ValidateChainOperator",
    "WalLagCheck",
    "WalLagSensor",
    "WayBackHook",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pgshift' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from pgshift.checks.base import Check
    from pgshift.checks.cdc_lag import CdcLagCheck
    from pgshift.checks.dms_task import DmsTaskCheck, DmsTaskRunningCheck
    from pgshift.checks.limits import ChainLimits
    from pgshift.checks.result import CheckResult
    from pgshift.checks.subscription import SubscriptionSyncedCheck
    from pgshift.checks.wal_lag import WalLagCheck
    from pgshift.citus_clone import CloneLagCheck
    from pgshift.citus_status import RebalanceCheck
    from pgshift.hooks.citus import CitusHook
    from pgshift.hooks.host import HostB
    from pgshift.hooks.postgres import PgShiftHook
    from pgshift.hooks.primary import PrimaryHook
    from pgshift.hooks.standby import StandbyHook
    from pgshift.hooks.target import TargetHook
    from pgshift.notifications.deadline import DeadlineMissedNotifier
    from pgshift.operators.basebackup import BasebackupOperator
    from pgshift.operators.citus import (
        CitusAddNodesOperator,
        CitusPreflightOperator,
        CitusRebalancePlanOperator,
        CitusRebalanceStartOperator,
        CitusVerifyOperator,
    )
    from pgshift.operators.citus_clone import (
        CitusAddClonesOperator,
        CitusCloneBasebackupOperator,
        CitusClonePlanOperator,
        CitusCloneVerifyOperator,
        CitusPromoteClonesOperator,
    )
    from pgshift.operators.cutover import CutoverGateOperator, CutoverOperator
    from pgshift.operators.dms import (
        DmsEndpointsOperator,
        DmsReplicationInstanceOperator,
        DmsReplicationTaskOperator,
        DmsStartTaskOperator,
    )
    from pgshift.operators.fence_watchdog import FenceWatchdogOperator
    from pgshift.operators.preflight import ChainPreflightOperator
    from pgshift.operators.publication import CreatePublicationOperator
    from pgshift.operators.schema import CopySchemaOperator
    from pgshift.operators.slot import LogicalSlotOperator
    from pgshift.operators.subscription import CreateSubscriptionOperator
    from pgshift.operators.validate import ValidateChainOperator
    from pgshift.sensors.citus import CitusCloneLagSensor, CitusRebalanceSensor
    from pgshift.sensors.poll import PgShiftPollSensor
    from pgshift.sensors.replication import CdcLagSensor, DmsTaskRunningSensor, SubscriptionSyncedSensor, WalLagSensor
    from pgshift.triggers.fence_watchdog import FenceWatchdogTrigger
    from pgshift.triggers.poll import PgShiftPollTrigger
