"""DMS: the task is running with its full load complete; failed or stopped fails at once.

boto3/botocore and the amazon hooks are imported when a check runs: the operators that use this module
are imported when a DAG file is parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pgshift.common.checks.result import CheckResult

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.dms import DmsHook

FAILED_STATES = {"failed", "stopped", "deleting"}
# What DMS answers for an ARN that does not exist, and for a describe filter that matches nothing.
NOT_FOUND = "ResourceNotFoundFault"


def aws_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (``response['Error']['Code']``), else None."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    if not isinstance(exc, ClientError):
        return None
    code = exc.response.get("Error", {}).get("Code")
    return str(code) if code else None


def describe_first(describe: Callable[..., dict[str, Any]], key: str, filter_name: str, value: str,
                   **extra: Any) -> dict[str, Any] | None:
    """The first item a DMS ``describe_*`` call lists under ``key`` for ``filter_name`` = ``value``, or None.

    DMS answers a filter that matches nothing with ResourceNotFoundFault; moto with an empty list.
    """
    try:
        found = describe(Filters=[{"Name": filter_name, "Values": [value]}], **extra)
    except Exception as exc:
        if aws_error_code(exc) == NOT_FOUND:
            return None
        raise
    items: list[dict[str, Any]] = found.get(key) or []
    return items[0] if items else None


def _hook(aws_conn_id: str | None, region_name: str | None) -> DmsHook:
    from airflow.providers.amazon.aws.hooks.dms import DmsHook

    return DmsHook(aws_conn_id=aws_conn_id or None, region_name=region_name or None)  # type: ignore[no-untyped-call]


def check_dms_task_running(aws_conn_id: str | None, task_arn: str, region_name: str | None = None) -> CheckResult:
    task = describe_first(_hook(aws_conn_id, region_name).conn.describe_replication_tasks, "ReplicationTasks",
                          "replication-task-arn", task_arn, WithoutSettings=True)
    if task is None:
        return CheckResult(False, f"DMS task {task_arn} does not exist", fatal=True)
    status = task.get("Status")
    stats = task.get("ReplicationTaskStats") or {}
    details = {"status": status, "stop_reason": task.get("StopReason"),
               "last_failure_message": task.get("LastFailureMessage"),
               **{k: stats.get(k) for k in ("FullLoadProgressPercent", "TablesLoaded", "TablesLoading",
                                            "TablesQueued", "TablesErrored")}}
    if status in FAILED_STATES:
        why = task.get("LastFailureMessage") or task.get("StopReason") or "no failure message given"
        return CheckResult(False, f"DMS task {task['ReplicationTaskIdentifier']} is {status}: {why}", details,
                           fatal=True)
    if stats.get("TablesErrored"):
        return CheckResult(False, f"DMS task {task['ReplicationTaskIdentifier']}: {stats['TablesErrored']} "
                                  f"tables errored during full load: {task.get('LastFailureMessage') or ''}",
                           details, fatal=True)
    if status != "running":
        return CheckResult(False, f"DMS task is {status}, not running yet", details)
    if stats.get("FullLoadProgressPercent") != 100 or stats.get("TablesLoading") or stats.get("TablesQueued"):
        return CheckResult(False, f"DMS full load at {stats.get('FullLoadProgressPercent')}% "
                                  f"({stats.get('TablesLoading')} loading, {stats.get('TablesQueued')} queued)",
                           details)
    return CheckResult(True, f"DMS task {task['ReplicationTaskIdentifier']} is running; full load complete "
                             f"({stats.get('TablesLoaded')} tables)", details)


def find_task_arn(aws_conn_id: str | None, task_id: str, region_name: str | None = None) -> str | None:
    """The ARN of the DMS task named ``task_id`` (its identifier), or None."""
    task = describe_first(_hook(aws_conn_id, region_name).conn.describe_replication_tasks, "ReplicationTasks",
                          "replication-task-id", task_id, WithoutSettings=True)
    return str(task["ReplicationTaskArn"]) if task else None


def check_dms_task(aws_conn_id: str | None, task_id: str, region_name: str | None = None) -> CheckResult:
    """:func:`check_dms_task_running` for the task named ``task_id`` (the DAG's param), not its ARN."""
    arn = find_task_arn(aws_conn_id, task_id, region_name)
    if not arn:
        return CheckResult(False, f"DMS task {task_id!r} does not exist", fatal=True)
    return check_dms_task_running(aws_conn_id, arn, region_name)
