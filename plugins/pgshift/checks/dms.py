"""DMS: the task is running with its full load complete; failed or stopped fails at once."""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.dms import DmsHook

from pgshift.checks.result import CheckResult

FAILED_STATES = {"failed", "stopped", "deleting"}


def check_dms_task_running(aws_conn_id: str | None, task_arn: str, region_name: str | None = None) -> CheckResult:
    hook = DmsHook(aws_conn_id=aws_conn_id or None, region_name=region_name or None)
    tasks = hook.find_replication_tasks_by_arn(task_arn, without_settings=True)
    if not tasks:
        return CheckResult(False, f"DMS task {task_arn} does not exist", fatal=True)
    task = tasks[0]
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
    hook = DmsHook(aws_conn_id=aws_conn_id or None, region_name=region_name or None)
    found = hook.conn.describe_replication_tasks(
        Filters=[{"Name": "replication-task-id", "Values": [task_id]}], WithoutSettings=True)
    tasks = found.get("ReplicationTasks") or []
    return tasks[0]["ReplicationTaskArn"] if tasks else None


def check_dms_task(aws_conn_id: str | None, task_id: str, region_name: str | None = None) -> CheckResult:
    """:func:`check_dms_task_running` for the task named ``task_id`` (the DAG's param), not its ARN."""
    arn = find_task_arn(aws_conn_id, task_id, region_name)
    if not arn:
        return CheckResult(False, f"DMS task {task_id!r} does not exist", fatal=True)
    return check_dms_task_running(aws_conn_id, arn, region_name)
