"""The DMS waits in the triggerer: the amazon provider's :class:`AwsBaseWaiterTrigger` running pgshift's waiters.

A wait is data, as in the provider: ``pgshift/migration/waiters/dms.json`` says which status is success and which
failure for each of

- ``replication_instance_available``: botocore's ReplicationInstanceAvailable, plus ``failed`` and
  ``storage-full`` (which botocore's waiter would sit out to its timeout);
- ``replication_task_ready``: the task after CreateReplicationTask (``failed`` or ``deleting`` end it);
- ``replication_task_full_load_complete``: the task ``running`` with its full load at 100 % and nothing loading
  or queued; ``failed``, ``stopped``, ``deleting`` or an errored table end it.

A task or instance that does not exist (``ResourceNotFoundFault``) ends each wait. The triggers here only name
their waiter and the describe filter; the event says whether a wait ended in a failure state
(``"reason": "failure"``, retrying cannot help), ran out of attempts (``"reason": "timeout"``), or met another AWS
error (``"reason": "error"``).

Imports the amazon provider and aiobotocore: imported where a task defers and in the triggerer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.providers.amazon.aws.exceptions import WaiterMaxAttemptsError, WaiterTerminalFailure
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import TriggerEvent

from pgshift.migration.hooks.dms import PgShiftDmsHook


class DmsWaiterTrigger(AwsBaseWaiterTrigger):
    """Runs waiter ``waiter_name`` on the DMS resource whose ``filter_name`` is ``value``; the event's ``value``
    is ``value``."""

    aws_hook_class = PgShiftDmsHook
    waiter: ClassVar[str]
    filter_name: ClassVar[str]
    what: ClassVar[str]
    queries: ClassVar[list[str]]

    def __init__(self, value: str, waiter_delay: int, waiter_max_attempts: int, aws_conn_id: str | None,
                 region_name: str | None = None, verify: bool | str | None = None,
                 botocore_config: dict[str, Any] | None = None) -> None:
        super().__init__(
            serialized_fields={"value": value}, waiter_name=self.waiter,
            waiter_args={"Filters": [{"Name": self.filter_name, "Values": [value]}]},
            failure_message=f"{self.what} {value} failed", status_message=f"{self.what} {value}",
            status_queries=self.queries, return_key="value", return_value=value,
            waiter_delay=waiter_delay, waiter_max_attempts=waiter_max_attempts, aws_conn_id=aws_conn_id,
            region_name=region_name, verify=verify, botocore_config=botocore_config)

    def _event_from_exception(self, error: AirflowException) -> TriggerEvent:
        event = super()._event_from_exception(error)
        reason = "failure" if isinstance(error, WaiterTerminalFailure) else \
            "timeout" if isinstance(error, WaiterMaxAttemptsError) else "error"
        return TriggerEvent({**event.payload, "reason": reason})  # type: ignore[no-untyped-call]


class DmsInstanceAvailableTrigger(DmsWaiterTrigger):
    """The replication instance ``value`` (its identifier) is available."""

    waiter = "replication_instance_available"
    filter_name = "replication-instance-id"
    what = "DMS replication instance"
    queries = ["ReplicationInstances[0].ReplicationInstanceStatus"]


class DmsTaskReadyTrigger(DmsWaiterTrigger):
    """The replication task ``value`` (its ARN) is ready to start."""

    waiter = "replication_task_ready"
    filter_name = "replication-task-arn"
    what = "DMS task"
    queries = ["ReplicationTasks[0].Status", "ReplicationTasks[0].LastFailureMessage"]


class DmsTaskFullLoadTrigger(DmsWaiterTrigger):
    """The replication task ``value`` (its ARN) is running with its full load complete."""

    waiter = "replication_task_full_load_complete"
    filter_name = "replication-task-arn"
    what = "DMS task"
    queries = ["ReplicationTasks[0].Status", "ReplicationTasks[0].ReplicationTaskStats",
                      "ReplicationTasks[0].LastFailureMessage"]
