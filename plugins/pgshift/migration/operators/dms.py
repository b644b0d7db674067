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

from pgshift.migration.config import ChainConfig, DmsLobMode
from pgshift.migration.operators.configured import ConfiguredOperator

if TYPE_CHECKING:
    from pgshift.migration.hooks.dms import PgShiftDmsHook
    from pgshift.migration.triggers.dms import DmsWaiterTrigger

TASK_SETTINGS: dict[str, Any] = {
    # Schema is copied to C beforehand (pg_dump --schema-only); a restarted full load starts clean.
    "FullLoadSettings": {"TargetTablePrepMode": "TRUNCATE_BEFORE_LOAD"},
    "Logging": {"EnableLogging": True},
}


def task_settings(chain: ChainConfig) -> dict[str, Any]:
    """:data:`TASK_SETTINGS` with the chain's parallel full load and LOB mode, as DMS names them."""
    lobs: dict[str, Any] = {"SupportLobs": True, "FullLobMode": chain.dms_lob_mode != DmsLobMode.LIMITED,
                            "LimitedSizeLobMode": chain.dms_lob_mode == DmsLobMode.LIMITED}
    if chain.dms_lob_mode == DmsLobMode.LIMITED:
        lobs["LobMaxSize"] = chain.dms_lob_max_size_kb
    else:
        lobs["LobChunkSize"] = chain.dms_lob_chunk_size_kb
    if chain.dms_lob_mode == DmsLobMode.INLINE:
        lobs["InlineLobMaxSize"] = chain.dms_inline_lob_max_size_kb
    return {**TASK_SETTINGS, "TargetMetadata": lobs,
            "FullLoadSettings": {**TASK_SETTINGS["FullLoadSettings"],
                                 "MaxFullLoadSubTasks": chain.dms_max_full_load_subtasks}}


def parallel_load_rules(chain: ChainConfig, first_id: int) -> list[dict[str, Any]]:
    """DMS table-settings rules for the tables the chain loads in parallel: by partition, or by ranges of columns
    (the boundaries of every column taken one from each, in order)."""
    loads: list[tuple[str, dict[str, Any]]] = [(name, {"type": "partitions-auto"})
                                               for name in chain.dms_parallel_load_partitions]
    loads += [(name, {"type": "ranges", "columns": list(columns),
                      "boundaries": [list(bound) for bound in zip(*columns.values(), strict=True)]})
              for name, columns in chain.dms_parallel_load_ranges.items()]
    rules = []
    for rule_id, (name, load) in enumerate(loads, start=first_id):
        schema, _, table = name.partition(".")
        rules.append({"rule-type": "table-settings", "rule-id": str(rule_id), "rule-name": f"pgshift-{rule_id}",
                      "object-locator": {"schema-name": schema, "table-name": table}, "parallel-load": load})
    return rules


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
    """

    def __init__(self, *, target_engine: str = "aurora-postgresql", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_engine = target_engine

    def source_settings(self) -> dict[str, Any]:
        """The PostgreSQL source settings that make DMS safe on a read-only standby."""
        return {"SlotName": self.chain.slot_name, "PluginName": "test-decoding", "HeartbeatEnable": False,
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

    def execute(self, context: Context) -> dict[str, str]:
        chain = self.chain
        source = self._ensure(chain.dms_source_endpoint_id, "source", "postgres", chain.conn_b_subscription,
                              {"PostgreSQLSettings": self.source_settings()})
        target = self._ensure(chain.dms_target_endpoint_id, "target", self.target_engine, chain.conn_c, {})
        return {"source_endpoint_arn": source, "target_endpoint_arn": target}


class DmsReplicationTaskOperator(DmsWaitingOperator):
    """Ensure full-load-and-cdc task ``dms_task_id`` for the scope (``schemas``, ``tables``) exists and is ready;
    returns its ARN. ``instance_arn`` and ``endpoints`` (templated) are the two tasks before it's XComs.

    Its settings are :func:`task_settings` (``dms_max_full_load_subtasks``, ``dms_lob_*``); its table mappings the
    scope's selection rules and :func:`parallel_load_rules` (``dms_parallel_load_*``).
    """

    template_fields: Sequence[str] = (*DmsBaseOperator.template_fields, "instance_arn", "endpoints")
    what = "DMS task"

    def __init__(self, *, instance_arn: str, endpoints: Mapping[str, str] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance_arn, self.endpoints = instance_arn, endpoints

    def table_mappings(self) -> dict[str, Any]:
        from pgshift.migration.scope import Scope

        mappings = Scope.from_params(self.chain.schemas, self.chain.tables).dms_table_mappings()
        rules: list[dict[str, Any]] = mappings["rules"]
        return {"rules": [*rules, *parallel_load_rules(self.chain, len(rules) + 1)]}

    def execute(self, context: Context) -> str:
        from pgshift.migration.checks.dms import describe_first
        from pgshift.migration.triggers.dms import DmsTaskReadyTrigger

        chain = self.chain
        if not isinstance(self.endpoints, Mapping):
            raise AirflowFailException(f"endpoints must be the dms_endpoints task's ARNs, got {self.endpoints!r}")
        task = describe_first(self.hook.conn.describe_replication_tasks, "ReplicationTasks",
                              "replication-task-id", chain.dms_task_id, WithoutSettings=True)
        if task:
            if task.get("MigrationType") != "full-load-and-cdc":
                raise AirflowFailException(f"DMS task {chain.dms_task_id} exists with migration type "
                                           f"{task.get('MigrationType')}, not full-load-and-cdc")
            self.log.info("DMS task %s exists (%s): reusing it", chain.dms_task_id, task.get("Status"))
            if task.get("Status") in ("running", "starting", "stopped", "stopping"):
                existing: str = task["ReplicationTaskArn"]
                return existing  # past ready: dms_start_task takes it from there
            arn: str = task["ReplicationTaskArn"]
        else:
            mappings, settings = self.table_mappings(), task_settings(chain)
            arn = self.hook.conn.create_replication_task(
                ReplicationTaskIdentifier=chain.dms_task_id, SourceEndpointArn=self.endpoints["source_endpoint_arn"],
                TargetEndpointArn=self.endpoints["target_endpoint_arn"], ReplicationInstanceArn=self.instance_arn,
                MigrationType="full-load-and-cdc", TableMappings=json.dumps(mappings),
                ReplicationTaskSettings=json.dumps(settings))["ReplicationTask"]["ReplicationTaskArn"]
            self.log.info("Created DMS task %s: %s; settings %s", chain.dms_task_id, json.dumps(mappings),
                          json.dumps(settings))
        ready: str = self.wait(DmsTaskReadyTrigger, arn)
        return ready

    def done(self, value: str) -> str:
        self.log.info("DMS task %s is ready", self.chain.dms_task_id)
        return value

    def status(self, value: str) -> str:
        from pgshift.migration.checks.dms import check_dms_task_running

        return str(check_dms_task_running(self.chain.aws_conn_id, value, self.region_name).details.get("status"))

    def failed(self, value: str) -> str:
        from pgshift.migration.checks.dms import check_dms_task_running

        return check_dms_task_running(self.chain.aws_conn_id, value, self.region_name).message


class DmsStartTaskOperator(DmsBaseOperator):
    """Start the task unless it already runs: ready -> start-replication, stopped -> resume-processing."""

    template_fields: Sequence[str] = (*DmsBaseOperator.template_fields, "task_arn")

    def __init__(self, *, task_arn: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_arn = task_arn

    def execute(self, context: Context) -> str:
        status = self.hook.get_task_status(self.task_arn)
        if status in ("running", "starting"):
            self.log.info("DMS task already %s: nothing to start", status)
            return status
        if status == "ready":
            start_type = "start-replication"
        elif status == "stopped":
            start_type = "resume-processing"
        else:
            raise AirflowFailException(f"DMS task {self.task_arn} is {status}: it cannot be started from that state")
        self.hook.start_replication_task(self.task_arn, start_type)
        self.log.info("Started DMS task (%s)", start_type)
        return start_type
