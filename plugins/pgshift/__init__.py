"""pgshift: an Airflow 3 provider for PostgreSQL migrations (A -> hot standby B -> Aurora C) and Citus scale-out.

The public API is ``__all__``: the hooks, operators, sensors, triggers and notifier a DAG uses, importable from
here or from their provider modules (``pgshift.operators.<module>`` and the like). Names are resolved on first
use (PEP 562), so ``import pgshift`` stays cheap when a DAG file is parsed. Anything not listed is internal.

Package layout. The code is arranged by domain:

- ``pgshift.common``: what both domains use and that imports neither of them: the connection layer
  (``hooks.postgres.PgShiftHook``), the host commands (``hooks.host``), the SQL loader and the shared SQL
  (``sql``), the check base, its result, the old check names and the WAL-lag verdict (``checks``), the poll
  sensor and trigger, the basebackup script's run (``operators.basebackup``), reports, charts, input
  validation, DAG defaults and the deadline notifier.
- ``pgshift.migration``: hybrid_aurora_migration: configuration and limits, the hooks of A, B, C and the way
  back (on ``hooks.base.MigrationHook``) with their row types (``hooks.states``), the checks, preflight, setup
  (standby slot, binaries), the scope, validation (sampling, the way back's), the switchover (``cutover``,
  ``fallback``, fence, lease, watchdog, drain, sequences), the data verification (``verify``: frozen point,
  delta, changes, parity), roles and privileges (``access``), operators, sensors, triggers and its ``sql``.
- ``pgshift.citus``: citus_scale_out: its hook, params, status, progress, clones, operators, sensors and
  ``sql``; it imports ``pgshift.common``, never ``pgshift.migration``.

Each domain's SQL is its ``sql`` package, found by a hook's ``sql_package`` (see :mod:`pgshift.common.sql`).
``tests/test_package_layout.py`` keeps the graph free of cycles and these directions.

Old paths kept as thin re-export modules (each says why in its docstring): ``pgshift.hooks.*``,
``pgshift.operators.*``, ``pgshift.sensors.*``, ``pgshift.triggers.*`` and ``pgshift.notifications.*``, the
provider convention users import from (and ``get_provider_info`` lists); and the module paths that serialized
data names, so a trigger or a deadline callback stored by an earlier pgshift still loads in the triggerer:
``pgshift.checks.{base,result,registry,wal_lag,cdc_lag,subscription,dms_task,reverse}`` (check classpaths
and the old check names) and ``pgshift.{citus_status,citus_clone}`` (RebalanceCheck, CloneLagCheck).
Nothing inside pgshift or the DAGs imports them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    # hooks
    "PgShiftHook": "pgshift.common.hooks.postgres",
    "MigrationHook": "pgshift.migration.hooks.base",
    "PrimaryHook": "pgshift.migration.hooks.primary",
    "StandbyHook": "pgshift.migration.hooks.standby",
    "TargetHook": "pgshift.migration.hooks.target",
    "WayBackHook": "pgshift.migration.hooks.fallback",
    "CitusHook": "pgshift.citus.hook",
    "HostB": "pgshift.common.hooks.host",
    # hybrid_aurora_migration's operators, in the order the DAG runs them
    "ChainPreflightOperator": "pgshift.migration.operators.preflight",
    "BasebackupOperator": "pgshift.migration.operators.basebackup",
    "LogicalSlotOperator": "pgshift.migration.operators.slot",
    "CreatePublicationOperator": "pgshift.migration.operators.publication",
    "MigrateRolesOperator": "pgshift.migration.operators.roles",
    "CopySchemaOperator": "pgshift.migration.operators.schema",
    "CreateSubscriptionOperator": "pgshift.migration.operators.subscription",
    "DmsReplicationInstanceOperator": "pgshift.migration.operators.dms",
    "DmsEndpointsOperator": "pgshift.migration.operators.dms",
    "DmsReplicationTaskOperator": "pgshift.migration.operators.dms",
    "DmsStartTaskOperator": "pgshift.migration.operators.dms",
    "ValidateChainOperator": "pgshift.migration.operators.validate",
    "CutoverGateOperator": "pgshift.migration.operators.cutover",
    "CutoverOperator": "pgshift.migration.operators.cutover",
    "FenceWatchdogOperator": "pgshift.migration.operators.fence_watchdog",
    "FallbackOperator": "pgshift.migration.operators.fallback",
    "FinishOperator": "pgshift.migration.operators.fallback",
    # citus_scale_out's operators
    "CitusPreflightOperator": "pgshift.citus.operators.scale_out",
    "CitusAddNodesOperator": "pgshift.citus.operators.scale_out",
    "CitusRebalancePlanOperator": "pgshift.citus.operators.scale_out",
    "CitusRebalanceStartOperator": "pgshift.citus.operators.scale_out",
    "CitusVerifyOperator": "pgshift.citus.operators.scale_out",
    "CitusCloneBasebackupOperator": "pgshift.citus.operators.clone",
    "CitusAddClonesOperator": "pgshift.citus.operators.clone",
    "CitusClonePlanOperator": "pgshift.citus.operators.clone",
    "CitusPromoteClonesOperator": "pgshift.citus.operators.clone",
    "CitusCloneVerifyOperator": "pgshift.citus.operators.clone",
    # waits: a check object reads itself; a sensor reads it once, then defers to the trigger that polls it
    "Check": "pgshift.common.checks.base",
    "CheckResult": "pgshift.common.checks.result",
    "ChainLimits": "pgshift.migration.limits",
    # the migration's one configuration: every migration operator takes it as ``config``
    "ChainConfig": "pgshift.migration.config",
    "WalLagCheck": "pgshift.migration.checks.wal_lag",
    "CdcLagCheck": "pgshift.migration.checks.cdc_lag",
    "SubscriptionSyncedCheck": "pgshift.migration.checks.subscription",
    "DmsTaskRunningCheck": "pgshift.migration.checks.dms_task",
    "DmsTaskCheck": "pgshift.migration.checks.dms_task",
    "RebalanceCheck": "pgshift.citus.status",
    "CloneLagCheck": "pgshift.citus.clone",
    # sensors and triggers
    "PgShiftPollSensor": "pgshift.common.sensors.poll",
    "WalLagSensor": "pgshift.migration.sensors.replication",
    "SubscriptionSyncedSensor": "pgshift.migration.sensors.replication",
    "CdcLagSensor": "pgshift.migration.sensors.replication",
    "DmsTaskRunningSensor": "pgshift.migration.sensors.replication",
    "CitusRebalanceSensor": "pgshift.citus.sensors",
    "CitusCloneLagSensor": "pgshift.citus.sensors",
    "PgShiftPollTrigger": "pgshift.common.triggers.poll",
    "FenceWatchdogTrigger": "pgshift.migration.triggers.fence_watchdog",
    # notifier
    "DeadlineMissedNotifier": "pgshift.common.notifications.deadline",
}

__all__ = [
    "BasebackupOperator",
    "CdcLagCheck",
    "CdcLagSensor",
    "ChainConfig",
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
    "MigrationHook",
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
    from pgshift.citus.clone import CloneLagCheck
    from pgshift.citus.hook import CitusHook
    from pgshift.citus.operators.clone import (
        CitusAddClonesOperator,
        CitusCloneBasebackupOperator,
        CitusClonePlanOperator,
        CitusCloneVerifyOperator,
        CitusPromoteClonesOperator,
    )
    from pgshift.citus.operators.scale_out import (
        CitusAddNodesOperator,
        CitusPreflightOperator,
        CitusRebalancePlanOperator,
        CitusRebalanceStartOperator,
        CitusVerifyOperator,
    )
    from pgshift.citus.sensors import CitusCloneLagSensor, CitusRebalanceSensor
    from pgshift.citus.status import RebalanceCheck
    from pgshift.common.checks.base import Check
    from pgshift.common.checks.result import CheckResult
    from pgshift.common.hooks.host import HostB
    from pgshift.common.hooks.postgres import PgShiftHook
    from pgshift.common.notifications.deadline import DeadlineMissedNotifier
    from pgshift.common.sensors.poll import PgShiftPollSensor
    from pgshift.common.triggers.poll import PgShiftPollTrigger
    from pgshift.migration.checks.cdc_lag import CdcLagCheck
    from pgshift.migration.checks.dms_task import DmsTaskCheck, DmsTaskRunningCheck
    from pgshift.migration.checks.subscription import SubscriptionSyncedCheck
    from pgshift.migration.checks.wal_lag import WalLagCheck
    from pgshift.migration.config import ChainConfig
    from pgshift.migration.hooks.base import MigrationHook
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.limits import ChainLimits
    from pgshift.migration.operators.basebackup import BasebackupOperator
    from pgshift.migration.operators.cutover import CutoverGateOperator, CutoverOperator
    from pgshift.migration.operators.dms import (
        DmsEndpointsOperator,
        DmsReplicationInstanceOperator,
        DmsReplicationTaskOperator,
        DmsStartTaskOperator,
    )
    from pgshift.migration.operators.fence_watchdog import FenceWatchdogOperator
    from pgshift.migration.operators.preflight import ChainPreflightOperator
    from pgshift.migration.operators.publication import CreatePublicationOperator
    from pgshift.migration.operators.schema import CopySchemaOperator
    from pgshift.migration.operators.slot import LogicalSlotOperator
    from pgshift.migration.operators.subscription import CreateSubscriptionOperator
    from pgshift.migration.operators.validate import ValidateChainOperator
    from pgshift.migration.sensors.replication import (
        CdcLagSensor,
        DmsTaskRunningSensor,
        SubscriptionSyncedSensor,
        WalLagSensor,
    )
    from pgshift.migration.triggers.fence_watchdog import FenceWatchdogTrigger
