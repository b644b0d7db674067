"""DMS waits as data: the task running with its full load complete, found by ARN or by its identifier.

The readings are :mod:`pgshift.migration.checks.dms`'s functions; that module imports the amazon provider, so it
is imported only when a reading is taken, never when a DAG file is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult


@dataclass(frozen=True)
class DmsTaskRunningCheck(Check):
    """The DMS task ``task_arn`` is running with its full load complete; failed or stopped is fatal."""

    name: ClassVar[str] = "dms_task_running"
    aws_conn_id: str | None
    task_arn: str
    region_name: str | None = None

    def take_reading(self) -> CheckResult:
        from pgshift.migration.checks import dms

        return dms.check_dms_task_running(self.aws_conn_id, self.task_arn, self.region_name)


@dataclass(frozen=True)
class DmsTaskCheck(Check):
    """:class:`DmsTaskRunningCheck` for the task named ``task_id`` (the DAG's param), not its ARN."""

    name: ClassVar[str] = "dms_task"
    aws_conn_id: str | None
    task_id: str
    region_name: str | None = None

    def take_reading(self) -> CheckResult:
        from pgshift.migration.checks import dms

        return dms.check_dms_task(self.aws_conn_id, self.task_id, self.region_name)
