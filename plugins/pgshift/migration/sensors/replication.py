"""The chain's waits: A -> B streaming lag, subscription sync, B -> C lag, DMS task running."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgshift.common.sensors.poll import PgShiftPollSensor

if TYPE_CHECKING:  # each check is imported by check(), where the task runs, not when the DAG file is parsed
    from pgshift.migration.checks.cdc_lag import CdcLagCheck
    from pgshift.migration.checks.dms_task import DmsTaskRunningCheck
    from pgshift.migration.checks.subscription import SubscriptionSyncedCheck
    from pgshift.migration.checks.wal_lag import WalLagCheck


class WalLagSensor(PgShiftPollSensor):
    """B streams from A through ``physical_slot`` with lag under ``max_bytes`` and ``max_seconds``.

    Each figure is read where it can be seen: the walsender on A, the WAL receiver on B. A NULL
    replay_lag (idle primary) counts as no lag only when the LSNs are equal; a stopped receiver never does.
    """

    template_fields = ("conn_a", "conn_b", "physical_slot", "max_bytes", "max_seconds", "poll_interval")

    def __init__(self, *, conn_a: str, conn_b: str, physical_slot: str, max_bytes: int = 16 * 2**20,
                 max_seconds: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_a, self.conn_b, self.physical_slot = conn_a, conn_b, physical_slot
        self.max_bytes, self.max_seconds = max_bytes, max_seconds

    def check(self) -> WalLagCheck:
        from pgshift.migration.checks.wal_lag import WalLagCheck

        return WalLagCheck(conn_a=self.conn_a, conn_b=self.conn_b, physical_slot=self.physical_slot,
                           max_bytes=int(self.max_bytes), max_seconds=float(self.max_seconds))


class SubscriptionSyncedSensor(PgShiftPollSensor):
    """Every table of the subscription on C is ready, an apply worker runs, and no apply/sync error is current.

    While tables are still syncing it nudges A (``pg_log_standby_snapshot``) so that the table-sync
    slots on the standby B can be created. Error counters that are not zero (a B restart counts one for
    good) are judged as :mod:`pgshift.migration.checks.subscription` says: a second sample a few seconds later
    tells a past error the apply worker recovered from (done, logged as a warning) from a current one.
    """

    template_fields = ("conn_c", "subscription", "conn_a")

    def __init__(self, *, conn_c: str, subscription: str, conn_a: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("poll_interval", 1.0)
        super().__init__(**kwargs)
        self.conn_c, self.subscription, self.conn_a = conn_c, subscription, conn_a

    def check(self) -> SubscriptionSyncedCheck:
        from pgshift.migration.checks.subscription import SubscriptionSyncedCheck

        return SubscriptionSyncedCheck(conn_c=self.conn_c, subscription=self.subscription, conn_a=self.conn_a)


class CdcLagSensor(PgShiftPollSensor):
    """B -> C: the logical slot's confirmed_flush_lsn trails B's replay LSN by at most ``max_bytes``.

    Read on B, so it means the same for the native subscription and for DMS. An inactive slot (no
    consumer) is never "no lag"; an invalidated slot fails at once.
    """

    template_fields = ("conn_b", "slot", "max_bytes", "poll_interval")

    def __init__(self, *, conn_b: str, slot: str, max_bytes: int = 16 * 2**20, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_b, self.slot, self.max_bytes = conn_b, slot, max_bytes

    def check(self) -> CdcLagCheck:
        from pgshift.migration.checks.cdc_lag import CdcLagCheck

        return CdcLagCheck(conn_b=self.conn_b, slot=self.slot, max_bytes=int(self.max_bytes))


class DmsTaskRunningSensor(PgShiftPollSensor):
    """The DMS task is running with its full load complete; fails fast on failed/stopped.

    The amazon provider's DMS sensors succeed only on ``stopped`` and are not deferrable, hence this one.
    """

    template_fields = ("aws_conn_id", "task_arn", "region_name", "poll_interval")

    def __init__(self, *, task_arn: str, aws_conn_id: str | None = "aws_default",
                 region_name: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("poll_interval", 30.0)
        super().__init__(**kwargs)
        self.task_arn, self.aws_conn_id, self.region_name = task_arn, aws_conn_id, region_name

    def check(self) -> DmsTaskRunningCheck:
        from pgshift.migration.checks.dms_task import DmsTaskRunningCheck

        return DmsTaskRunningCheck(aws_conn_id=self.aws_conn_id, task_arn=self.task_arn, region_name=self.region_name)
