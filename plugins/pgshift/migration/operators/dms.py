"""The DMS path B -> C: replication instance, endpoints, task, start; each step idempotent.

Built on the amazon provider's :class:`DmsHook` (pgshift's :class:`~pgshift.migration.hooks.dms.PgShiftDmsHook`
adds pgshift's waiters). The source is the standby B: DMS must not write to it, so heartbeat and DDL capture are
off, and it reads the pre-created slot with ``test_decoding`` (DMS does not accept pgoutput).

The waits (instance available, task ready, full load complete) are the provider's pattern: a boto waiter from
``pgshift/migration/waiters/dms.json``, read once in the worker, then deferred to the triggerer
(:mod:`pgshift.migration.triggers.dms`, the provider's :class:`AwsBaseWaiterTrigger`) unless ``deferrable`` is
False, when the worker waits. A failure state fails the task without retries; a wait that runs out of
``wait_seconds`` fails it for a retry.

Parsing a DAG that uses these operators imports neither boto3/botocore nor the amazon hooks: the hook
is built, and they are imported, when a task runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from pgshift.migration.config import ChainConfig
from pgshift.migration.operators.configured import ConfiguredOperator
from pgshift.migration.setup.databases import about
from pgshift.migration.setup.dms_settings import TASK_SETTINGS, parallel_load_rules, task_settings

if TYPE_CHECKING:
    from pgshift.migration.hooks.dms import PgShiftDmsHook
    from pgshift.migration.triggers.dms import DmsWaiterTrigger

__all__ = ["TASK_SETTINGS", "DmsBaseOperator", "DmsEndpointsOperator", "DmsReplicationInstanceOperator",
           "DmsReplicationTaskOperator", "DmsStartTaskOperator", "DmsWaitingOperator", "parallel_load_rules",
           "task_settings"]


# A task in one of these states was started before: dms_start_task takes it from there, no wait for ready.
PAST_READY = ("running", "starting", "stopped", "stopping")


class DmsBaseOperator(ConfiguredOperator):
    """AWS parameters as :class:`AwsBaseOperator` takes them, with the DMS hook built on first use. The AWS
    connection is the chain's ``aws_conn_id`` (empty: boto3's default chain).

    :param region_name: AWS region (None: the connection's, then boto3's default).
    :param verify: Whether to verify SSL certificates (or a CA bundle path).
    :param botocore_config: Settings for the botocore client's ``Config``.
    """

    template_fields: Sequence[str] = (*ConfiguredOperator.template_fields, "region_name")

    def __init__(self, *, region_name: str | None = None, verify: bool | str | None = None,
                 botocore_config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.region_name = region_name
        self.verify, self.botocore_config = verify, botocore_config

    @cached_property
    def hook(self) -> PgShiftDmsHook:
        from pgshift.migration.hooks.dms import PgShiftDmsHook

        return PgShiftDmsHook(aws_conn_id=self.chain.aws_conn_id or None, region_name=self.region_name,  # type: ignore[no-untyped-call]
                              verify=self.verify, config=self.botocore_config)


class DmsWaitingOperator(DmsBaseOperator):
    """A DMS step that ends by waiting for a state: one reading in the worker, then the trigger.

    Why not a pgshift ``Check`` through :class:`PgShiftPollTrigger`, as the PostgreSQL waits do: a DMS state is
    one describe call and a status, which the amazon provider already waits for as data (a waiter's acceptors)
    with its own trigger, calling AWS asynchronously (aiobotocore) on the triggerer's loop instead of in a
    thread per reading; the same waiter serves the worker's first reading and the non-deferrable wait.

    :param deferrable: Wait in the triggerer (True, the default, like the provider's operators) or in the worker.
    :param wait_seconds: How long to wait before failing the task (for a retry); every ``poll_interval_seconds``.
    """

    what: str = "DMS resource"  # what the wait is for, in its messages

    def __init__(self, *, deferrable: bool = True, wait_seconds: float = 1800, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable, self.wait_seconds = deferrable, wait_seconds

    def failed(self, value: str) -> str:
        """Why the wait for ``value`` ended in a failure state, as DMS tells it."""
        raise NotImplementedError

    def status(self, value: str) -> str:
        """The status ``value`` is in now, for the message of a wait that ran out of time."""
        raise NotImplementedError

    def done(self, value: str) -> Any:
        """The task's result once the wait for ``value`` succeeded."""
        raise NotImplementedError

    def wait(self, trigger: type[DmsWaiterTrigger], value: str) -> Any:
        from airflow.providers.amazon.aws.exceptions import WaiterMaxAttemptsError, WaiterTerminalFailure
        from airflow.providers.amazon.aws.utils.waiter_with_logging import wait

        delay = max(1, math.ceil(self.chain.poll_interval_seconds))
        attempts = 1 + math.ceil(self.wait_seconds / delay)
        self.log.info("Waiting for %s %s (%s, every %s s, up to %s s%s)", trigger.what, value, trigger.waiter, delay,
                      self.wait_seconds, ", in the triggerer" if self.deferrable else "")
        try:
            wait(self.hook.get_waiter(trigger.waiter), delay, 1 if self.deferrable else attempts,
                 {"Filters": [{"Name": trigger.filter_name, "Values": [value]}]}, f"{trigger.what} {value} failed",
                 f"{trigger.what} {value}", trigger.queries)
            return self.done(value)
        except WaiterTerminalFailure:
            raise AirflowFailException(self.failed(value)) from None
        except WaiterMaxAttemptsError:
            if not self.deferrable:
                raise AirflowException(f"{trigger.what} {value} still {self.status(value)} "
                                       f"after {self.wait_seconds} s") from None
        self.defer(trigger=trigger(value, delay, attempts - 1, self.chain.aws_conn_id or None, self.region_name,
                                   self.verify, self.botocore_config),
                   method_name="execute_complete", timeout=timedelta(seconds=self.wait_seconds + 120))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        value = str(event.get("value"))
        if event.get("status") == "success":
            return self.done(value)
        if event.get("reason") == "failure":
            raise AirflowFailException(self.failed(value))
        if event.get("reason") == "timeout":
            raise AirflowException(f"{self.what} {value} still {self.status(value)} after {self.wait_seconds} s")
        raise AirflowException(str(event.get("message")))


class DmsReplicationInstanceOperator(DmsWaitingOperator):
    """Ensure replication instance ``dms_replication_instance_id`` (class ``dms_instance_class``, engine
    ``dms_engine_version``) exists and is available; returns its ARN.
    """

    what = "DMS replication instance"

    def __init__(self, *, allocated_storage: int = 50, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allocated_storage = allocated_storage

    @property
    def instance_id(self) -> str:
        return self.chain.dms_replication_instance_id

    def _describe(self) -> dict[str, Any] | None:
        from pgshift.migration.checks.dms import describe_first  # where the task runs, not when the DAG file is parsed

        return describe_first(self.hook.conn.describe_replication_instances, "ReplicationInstances",
                              "replication-instance-id", self.instance_id)

    def execute(self, context: Context) -> str:
        from pgshift.migration.triggers.dms import DmsInstanceAvailableTrigger

        instance = self._describe()
        if instance is None:
            kwargs: dict[str, Any] = {"ReplicationInstanceIdentifier": self.instance_id,
                                      "ReplicationInstanceClass": self.chain.dms_instance_class,
                                      "AllocatedStorage": self.allocated_storage, "PubliclyAccessible": False}
            if self.chain.dms_engine_version:
                kwargs["EngineVersion"] = self.chain.dms_engine_version
            self.hook.conn.create_replication_instance(**kwargs)
            self.log.info("Created DMS replication instance %s (%s)", self.instance_id, self.chain.dms_instance_class)
        else:
            self.log.info("DMS replication instance %s exists (%s)", self.instance_id,
                          instance.get("ReplicationInstanceStatus"))
        arn: str = self.wait(DmsInstanceAvailableTrigger, self.instance_id)
        return arn

    def done(self, value: str) -> str:
        instance = self._describe() or {}
        arn: str = instance["ReplicationInstanceArn"]
        return arn

    def status(self, value: str) -> str:
        return str((self._describe() or {}).get("ReplicationInstanceStatus"))

    def failed(self, value: str) -> str:
        return f"DMS replication instance {value} is {self.status(value)}"


class DmsEndpointsOperator(DmsBaseOperator):
    """Ensure the source endpoint (B, read-only) and target endpoint (C); returns both ARNs.

    From the chain: ``dms_source_endpoint_id`` (B as ``conn_b_subscription`` reaches it, reading ``slot_name``),
    ``dms_target_endpoint_id`` (``conn_c``), ``dms_ssl_mode``.
    Credentials come from the Airflow connections and go only to the DMS API, never to the log or XCom.
    For a chain of named databases, one pair per database (each its own ids, ``DatabaseName`` and slot); returns
    ``{"databases": {<database>: {"source_endpoint_arn": …, "target_endpoint_arn": …}}}``.
    """

    def __init__(self, *, target_engine: str = "aurora-postgresql", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_engine = target_engine

    def source_settings(self, part: ChainConfig | None = None) -> dict[str, Any]:
        """The PostgreSQL source settings that make DMS safe on a read-only standby (``part``: a database's part
        of the chain, reading its own slot; None: the chain's)."""
        return {"SlotName": (part or self.chain).slot_name, "PluginName": "test-decoding", "HeartbeatEnable": False,
                "CaptureDdls": False}

    def _ensure(self, endpoint_id: str, endpoint_type: str, engine: str, conn_id: str,
                extra: dict[str, Any]) -> str:
        from pgshift.migration.checks.dms import describe_first
        from pgshift.migration.hooks.base import MigrationHook

        existing = describe_first(self.hook.conn.describe_endpoints, "Endpoints", "endpoint-id", endpoint_id)
        if existing:
            self.log.info("DMS %s endpoint %s exists: reusing it", endpoint_type, endpoint_id)
            arn: str = existing["EndpointArn"]
            return arn
        p = MigrationHook(conn_id).conn_params()
        created = self.hook.conn.create_endpoint(
            EndpointIdentifier=endpoint_id, EndpointType=endpoint_type, EngineName=engine,
            ServerName=str(p["host"]), Port=int(p["port"]), DatabaseName=str(p["dbname"]),
            Username=str(p["user"]), Password=str(p["password"]), SslMode=self.chain.dms_ssl_mode.value, **extra)
        self.log.info("Created DMS %s endpoint %s (%s on %s:%s/%s)", endpoint_type, endpoint_id, engine,
                      p["host"], p["port"], p["dbname"])
        arn = created["Endpoint"]["EndpointArn"]
        return arn

    def execute(self, context: Context) -> dict[str, Any]:
        pairs = {part.database or "": self._pair(part) for part in self.chain.database_chains()}
        return pairs[""] if not self.chain.several_databases else {"databases": pairs}

    def _pair(self, part: ChainConfig) -> dict[str, str]:
        """One database's source (its database on B, its slot) and target (its database on C) endpoints: a DMS
        endpoint names one database."""
        source = self._ensure(part.dms_source_endpoint_id, "source", "postgres", part.conn_b_subscription,
                              {"PostgreSQLSettings": self.source_settings(part)})
        target = self._ensure(part.dms_target_endpoint_id, "target", self.target_engine, part.conn_c, {})
        return {"source_endpoint_arn": source, "target_endpoint_arn": target}


class DmsReplicationTaskOperator(DmsWaitingOperator):
    """Ensure full-load-and-cdc task ``dms_task_id`` for the scope (``schemas``, ``tables``) exists and is ready;
    returns its ARN. ``instance_arn`` and ``endpoints`` (templated) are the two tasks before it's XComs.

    Its settings are :func:`task_settings` (``dms_max_full_load_subtasks``, ``dms_lob_*``); its table mappings the
    scope's selection rules and :func:`parallel_load_rules` (``dms_parallel_load_*``).

    For a chain of named databases (``endpoints``: ``{"databases": {<database>: pair}}``), one task per database
    on the one replication instance, each between that database's endpoints; the wait covers every task, one after
    the other (a waiter reads one task; the deferral resumes in :meth:`done`, which waits for the next one not
    ready). Returns the ARNs by database: ``{<database>: arn}``.
    """

    template_fields: Sequence[str] = (*DmsBaseOperator.template_fields, "instance_arn", "endpoints")
    what = "DMS task"

    def __init__(self, *, instance_arn: str, endpoints: Mapping[str, Any] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance_arn, self.endpoints = instance_arn, endpoints

    def table_mappings(self) -> dict[str, Any]:
        from pgshift.migration.scope import Scope

        mappings = Scope.from_params(self.chain.schemas, self.chain.tables).dms_table_mappings()
        rules: list[dict[str, Any]] = mappings["rules"]
        return {"rules": [*rules, *parallel_load_rules(self.chain, len(rules) + 1)]}

    def execute(self, context: Context) -> Any:
        if not isinstance(self.endpoints, Mapping):
            raise AirflowFailException(f"endpoints must be the dms_endpoints task's ARNs, got {self.endpoints!r}")
        if not self.chain.several_databases:
            from pgshift.migration.triggers.dms import DmsTaskReadyTrigger

            arn, past_ready = self._ensure(self.chain, self.endpoints)
            return arn if past_ready else self.wait(DmsTaskReadyTrigger, arn)  # past ready: dms_start_task goes on
        pairs: Mapping[str, Mapping[str, str]] = self.endpoints.get("databases") or {}
        for part in self.chain.database_chains():
            if (part.database or "") not in pairs:
                raise AirflowFailException(about(part, "dms_endpoints made no endpoints for it"))
            self._ensure(part, pairs[part.database or ""])
        return self._next_ready()

    def _ensure(self, part: ChainConfig, endpoints: Mapping[str, str]) -> tuple[str, bool]:
        """The part's task, created when absent; its ARN and whether it is past ready (started before)."""
        from pgshift.migration.checks.dms import describe_first

        task = describe_first(self.hook.conn.describe_replication_tasks, "ReplicationTasks",
                              "replication-task-id", part.dms_task_id, WithoutSettings=True)
        if task:
            if task.get("MigrationType") != "full-load-and-cdc":
                raise AirflowFailException(about(part, f"DMS task {part.dms_task_id} exists with migration type "
                                                       f"{task.get('MigrationType')}, not full-load-and-cdc"))
            self.log.info(about(part, "DMS task %s exists (%s): reusing it"), part.dms_task_id, task.get("Status"))
            return str(task["ReplicationTaskArn"]), task.get("Status") in PAST_READY
        mappings, settings = self.table_mappings(), task_settings(part)
        arn: str = self.hook.conn.create_replication_task(
            ReplicationTaskIdentifier=part.dms_task_id, SourceEndpointArn=endpoints["source_endpoint_arn"],
            TargetEndpointArn=endpoints["target_endpoint_arn"], ReplicationInstanceArn=self.instance_arn,
            MigrationType="full-load-and-cdc", TableMappings=json.dumps(mappings),
            ReplicationTaskSettings=json.dumps(settings))["ReplicationTask"]["ReplicationTaskArn"]
        self.log.info(about(part, "Created DMS task %s: %s; settings %s"), part.dms_task_id, json.dumps(mappings),
                      json.dumps(settings))
        return arn, False

    def _tasks(self) -> dict[str, tuple[str, str]]:
        """Each database's task: (ARN, status), in the chain's order."""
        from pgshift.migration.checks.dms import describe_first

        out = {}
        for part in self.chain.database_chains():
            task = describe_first(self.hook.conn.describe_replication_tasks, "ReplicationTasks",
                                  "replication-task-id", part.dms_task_id, WithoutSettings=True)
            if task is None:
                raise AirflowFailException(about(part, f"DMS task {part.dms_task_id} does not exist"))
            out[part.database or ""] = (str(task["ReplicationTaskArn"]), str(task.get("Status")))
        return out

    def _next_ready(self) -> dict[str, str]:
        """Wait for the first task not ready yet (each in turn: one waiter reads one task); when every task is
        ready (or past it), their ARNs by database."""
        from pgshift.migration.triggers.dms import DmsTaskReadyTrigger

        tasks = self._tasks()
        for arn, status in tasks.values():
            if status != "ready" and status not in PAST_READY:
                waited: dict[str, str] = self.wait(DmsTaskReadyTrigger, arn)
                return waited
        return {database: arn for database, (arn, _) in tasks.items()}

    def _database_of(self, arn: str) -> str:
        if not self.chain.several_databases:
            return ""
        return next((f"database {db}: " for db, (task_arn, _) in self._tasks().items() if task_arn == arn), "")

    def done(self, value: str) -> Any:
        if self.chain.several_databases:
            self.log.info("%sDMS task %s is ready", self._database_of(value), value)
            return self._next_ready()
        self.log.info("DMS task %s is ready", self.chain.dms_task_id)
        return value

    def status(self, value: str) -> str:
        from pgshift.migration.checks.dms import check_dms_task_running

        return str(check_dms_task_running(self.chain.aws_conn_id, value, self.region_name).details.get("status"))

    def failed(self, value: str) -> str:
        from pgshift.migration.checks.dms import check_dms_task_running

        message = check_dms_task_running(self.chain.aws_conn_id, value, self.region_name).message
        return self._database_of(value) + message


class DmsStartTaskOperator(DmsBaseOperator):
    """Start the task unless it already runs: ready -> start-replication, stopped -> resume-processing.
    ``task_arn`` (templated: the ``dms_task`` task's XCom) is one ARN, or for a chain of named databases the ARNs
    by database, each started in turn (the result then by database too)."""

    template_fields: Sequence[str] = (*DmsBaseOperator.template_fields, "task_arn")

    def __init__(self, *, task_arn: str | Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_arn = task_arn

    def execute(self, context: Context) -> str | dict[str, str]:
        if isinstance(self.task_arn, Mapping):
            return {database: self._start(arn, f"database {database}: " if database else "")
                    for database, arn in self.task_arn.items()}
        return self._start(self.task_arn)

    def _start(self, arn: str, where: str = "") -> str:
        status = self.hook.get_task_status(arn)
        if status in ("running", "starting"):
            self.log.info("%sDMS task already %s: nothing to start", where, status)
            return status
        if status == "ready":
            start_type = "start-replication"
        elif status == "stopped":
            start_type = "resume-processing"
        else:
            raise AirflowFailException(f"{where}DMS task {arn} is {status}: it cannot be started from that state")
        self.hook.start_replication_task(arn, start_type)
        self.log.info("%sStarted DMS task (%s)", where, start_type)
        return start_type
