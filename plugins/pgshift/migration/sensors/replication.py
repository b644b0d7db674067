"""The chain's waits: A -> B streaming lag, subscription sync, B -> C lag, DMS task running (full load done).

Each takes the chain's configuration (``config``,
:class:`~pgshift.migration.operators.configured.ConfiguredOperator`) and builds its
:class:`~pgshift.common.checks.base.Check` from it; the lag limits and the poll interval are the Params'
(``wal_lag_max_bytes``, ``wal_lag_max_seconds``, ``cdc_lag_max_bytes``, ``poll_interval_seconds``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import Context

from pgshift.common.checks.base import Check
from pgshift.common.sensors.poll import PgShiftPollSensor
from pgshift.migration.operators.configured import ConfiguredOperator
from pgshift.migration.operators.dms import DmsWaitingOperator

if TYPE_CHECKING:  # each check is imported by check(), where the task runs, not when the DAG file is parsed
    from pgshift.common.checks.result import CheckResult
    from pgshift.migration.checks.cdc_lag import CdcLagCheck
    from pgshift.migration.checks.databases import EveryDatabaseCheck
    from pgshift.migration.checks.subscription import SubscriptionSyncedCheck
    from pgshift.migration.checks.wal_lag import WalLagCheck
    from pgshift.migration.config import ChainConfig

C = TypeVar("C", bound=Check)


class ChainSensor(ConfiguredOperator, PgShiftPollSensor):
    """A poll sensor of the chain: polls every ``poll_interval_seconds`` unless given its own ``poll_interval``."""

    def __init__(self, *, poll_interval: float | None = None, **kwargs: Any) -> None:
        if poll_interval is not None:
            kwargs["poll_interval"] = poll_interval
        super().__init__(**kwargs)
        self.own_poll_interval = poll_interval

    def poll_seconds(self) -> float:
        if self.own_poll_interval is not None:
            return self.own_poll_interval
        return self.chain.poll_interval_seconds

    def in_every_database(self, check_of: Callable[[ChainConfig], C]) -> C | EveryDatabaseCheck:
        """``check_of(chain)`` for a chain with an empty ``databases`` (the check as it always was); for named
        databases one check per database's part, read together
        (:class:`~pgshift.migration.checks.databases.EveryDatabaseCheck`: the sensor waits for every database,
        and a problem names its database)."""
        from pgshift.migration.checks.databases import EveryDatabaseCheck

        if not self.chain.several_databases:
            return check_of(self.chain)
        return EveryDatabaseCheck.of([(part.database or "", check_of(part)) for part in self.chain.database_chains()])


class WalLagSensor(ChainSensor):
    """B streams from A through ``physical_slot_name`` with lag under ``wal_lag_max_bytes`` and
    ``wal_lag_max_seconds``. The server's, once whatever the chain's databases: physical replication carries them
    all.

    Each figure is read where it can be seen: the walsender on A, the WAL receiver on B. A NULL
    replay_lag (idle primary) counts as no lag only when the LSNs are equal; a stopped receiver never does.
    """

    def check(self) -> WalLagCheck:
        from pgshift.migration.checks.wal_lag import WalLagCheck

        chain = self.chain
        return WalLagCheck(conn_a=chain.conn_a, conn_b=chain.conn_b, physical_slot=chain.physical_slot_name,
                           max_bytes=chain.wal_lag_max_bytes, max_seconds=chain.wal_lag_max_seconds)


class SubscriptionSyncedSensor(ChainSensor):
    """Every table of subscription ``subscription_name`` on C is ready, an apply worker runs, and no apply/sync
    error is current; for a chain of named databases, every database's subscription on C.

    While tables are still syncing it nudges A (``pg_log_standby_snapshot``) so that the table-sync
    slots on the standby B can be created. Error counters that are not zero (a B restart counts one for
    good) are judged as :mod:`pgshift.migration.checks.subscription` says: a second sample a few seconds later
    tells a past error the apply worker recovered from (done, logged as a warning) from a current one.
    """

    def check(self) -> SubscriptionSyncedCheck | EveryDatabaseCheck:
        from pgshift.migration.checks.subscription import SubscriptionSyncedCheck

        return self.in_every_database(lambda part: SubscriptionSyncedCheck(
            conn_c=part.conn_c, subscription=part.subscription_name, conn_a=part.conn_a))


class CdcLagSensor(ChainSensor):
    """B -> C: the logical slot's confirmed_flush_lsn trails B's replay LSN by at most ``cdc_lag_max_bytes``; for a
    chain of named databases, every database's slot (each within the limit).

    Read on B, so it means the same for the native subscription and for DMS. An inactive slot (no
    consumer) is never "no lag"; an invalidated slot fails at once.
    """

    def check(self) -> CdcLagCheck | EveryDatabaseCheck:
        from pgshift.migration.checks.cdc_lag import CdcLagCheck

        return self.in_every_database(lambda part: CdcLagCheck(conn_b=part.conn_b, slot=part.slot_name,
                                                               max_bytes=part.cdc_lag_max_bytes))


class DmsTaskRunningSensor(DmsWaitingOperator):
    """The DMS task ``task_arn`` (templated: the ``dms_task`` task's XCom) is running with its full load complete;
    fails fast on failed/stopped, quoting DMS's failure message. AWS through the chain's ``aws_conn_id``.

    The amazon provider's DMS sensors succeed only on ``stopped`` and are not deferrable, hence this one: its
    wait is pgshift's ``replication_task_full_load_complete`` waiter, deferred to the triggerer by
    :class:`~pgshift.migration.triggers.dms.DmsTaskFullLoadTrigger` (see
    :class:`~pgshift.migration.operators.dms.DmsWaitingOperator`). Returns the last reading (status, full load
    figures) as its XCom.

    For a chain of named databases ``task_arn`` is the ARNs by database: the wait covers every task, one after the
    other (a waiter reads one task; each resumption waits for the next one not done), a failure names its
    database, and the XCom is the readings by database.
    """

    template_fields = (*DmsWaitingOperator.template_fields, "task_arn")
    what = "DMS task"

    def __init__(self, *, task_arn: str | Mapping[str, str], timeout: float | None = None, **kwargs: Any) -> None:
        if timeout is not None:  # its name when it was a poll sensor
            kwargs.setdefault("wait_seconds", timeout)
        super().__init__(**kwargs)
        self.task_arn = task_arn

    def execute(self, context: Context) -> Any:
        if isinstance(self.task_arn, Mapping):
            return self._next_loaded()
        from pgshift.migration.triggers.dms import DmsTaskFullLoadTrigger

        return self.wait(DmsTaskFullLoadTrigger, self.task_arn)

    def _next_loaded(self) -> dict[str, Any]:
        """Wait for the first task whose full load is not complete; when none is left, every reading by database."""
        from pgshift.migration.triggers.dms import DmsTaskFullLoadTrigger

        arns = dict(self.task_arn) if isinstance(self.task_arn, Mapping) else {"": self.task_arn}
        readings = {}
        for database, arn in arns.items():
            result = self.reading(arn)
            if not result.done:
                waited: dict[str, Any] = self.wait(DmsTaskFullLoadTrigger, arn)
                return waited
            readings[database] = result.details
        return readings

    def _where(self, value: str) -> str:
        if not isinstance(self.task_arn, Mapping):
            return ""
        return next((f"database {db}: " for db, arn in self.task_arn.items() if arn == value), "")

    def reading(self, value: str) -> CheckResult:
        from pgshift.migration.checks.dms_task import DmsTaskRunningCheck

        return DmsTaskRunningCheck(aws_conn_id=self.chain.aws_conn_id, task_arn=value,
                                   region_name=self.region_name).read()

    def done(self, value: str) -> Any:
        result = self.reading(value)
        self.log.info("%s%s", self._where(value), result.message)
        if isinstance(self.task_arn, Mapping):
            return self._next_loaded()
        return result.details

    def status(self, value: str) -> str:
        return str(self.reading(value).details.get("status"))

    def failed(self, value: str) -> str:
        return self._where(value) + self.reading(value).message
