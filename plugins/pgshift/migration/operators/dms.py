"""The DMS path B -> C: replication instance, endpoints, task, start; each step idempotent.

Built on the amazon provider's :class:`DmsHook` (``create_replication_task`` waits for ``ready``).
The source is the standby B: DMS must not write to it, so heartbeat and DDL capture are off, and it
reads the pre-created slot with ``test_decoding`` (DMS does not accept pgoutput).

Parsing a DAG that uses these operators imports neither boto3/botocore nor the amazon hooks: the hook
is built, and they are imported, when a task runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from pgshift.migration.operators.configured import ConfiguredOperator

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.dms import DmsHook

TASK_SETTINGS: dict[str, Any] = {
    # Schema is copied to C beforehand (pg_dump --schema-only); a restarted full load starts clean.
    "FullLoadSettings": {"TargetTablePrepMode": "TRUNCATE_BEFORE_LOAD"},
    "TargetMetadata": {"SupportLobs": True, "LimitedSizeLobMode": True, "LobMaxSize": 32},
    "Logging": {"EnableLogging": True},
}

# Replication instance statuses no wait gets out of: botocore's ReplicationInstanceAvailable failure
# states, plus ``failed`` and ``storage-full``, which botocore's waiter would sit out to its timeout.
INSTANCE_FAILED = ("failed", "deleting", "incompatible-credentials", "incompatible-network",
                   "inaccessible-encryption-credentials", "storage-full")
_INSTANCE_STATUS = "ReplicationInstances[].ReplicationInstanceStatus"
# botocore's dms ``ReplicationInstanceAvailable`` waiter (waiters-2.json) with the failure states above;
# delay and attempts are set per wait from the operator's poll_interval and wait_seconds.
INSTANCE_WAITER: dict[str, Any] = {
    "version": 2,
    "waiters": {
        "replication_instance_available": {
            "operation": "DescribeReplicationInstances",
            "delay": 60,
            "maxAttempts": 60,
            "acceptors": [
                {"matcher": "pathAll", "argument": _INSTANCE_STATUS, "expected": "available", "state": "success"},
                *({"matcher": "pathAny", "argument": _INSTANCE_STATUS, "expected": status, "state": "failure"}
                  for status in INSTANCE_FAILED),
            ],
        },
    },
}


class DmsBaseOperator(ConfiguredOperator):
    """AWS parameters as :class:`AwsBaseOperator` takes them, with the :class:`DmsHook` built on first use. The AWS
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
    def hook(self) -> DmsHook:
        from airflow.providers.amazon.aws.hooks.dms import DmsHook

        return DmsHook(aws_conn_id=self.chain.aws_conn_id or None, region_name=self.region_name,  # type: ignore[no-untyped-call]
                       verify=self.verify, config=self.botocore_config)


class DmsReplicationInstanceOperator(DmsBaseOperator):
    """Ensure replication instance ``dms_replication_instance_id`` (class ``dms_instance_class``, engine
    ``dms_engine_version``) exists and is available; returns its ARN.

    The wait is a boto waiter (:data:`INSTANCE_WAITER`): DescribeReplicationInstances every
    ``poll_interval_seconds`` for up to ``wait_seconds``; a failure state fails the task without retries.
    """

    def __init__(self, *, allocated_storage: int = 50, wait_seconds: float = 1800, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allocated_storage, self.wait_seconds = allocated_storage, wait_seconds

    @property
    def instance_id(self) -> str:
        return self.chain.dms_replication_instance_id

    def _describe(self) -> dict[str, Any] | None:
        from pgshift.migration.checks.dms import describe_first  # where the task runs, not when the DAG file is parsed

        return describe_first(self.hook.conn.describe_replication_instances, "ReplicationInstances",
                              "replication-instance-id", self.instance_id)

    def execute(self, context: Context) -> str:
        instance = self._describe()
        if instance is None:
            kwargs: dict[str, Any] = {"ReplicationInstanceIdentifier": self.instance_id,
                                      "ReplicationInstanceClass": self.chain.dms_instance_class,
                                      "AllocatedStorage": self.allocated_storage, "PubliclyAccessible": False}
            if self.chain.dms_engine_version:
                kwargs["EngineVersion"] = self.chain.dms_engine_version
            instance = self.hook.conn.create_replication_instance(**kwargs)["ReplicationInstance"]
            self.log.info("Created DMS replication instance %s (%s)", self.instance_id, self.chain.dms_instance_class)
        else:
            self.log.info("DMS replication instance %s exists (%s)", self.instance_id,
                          instance.get("ReplicationInstanceStatus"))
        self._wait_available()
        arn: str = instance["ReplicationInstanceArn"]
        return arn

    def _wait_available(self) -> None:
        from airflow.providers.amazon.aws.waiters.base_waiter import BaseBotoWaiter
        from botocore.exceptions import WaiterError  # type: ignore[import-untyped, unused-ignore]

        delay = max(1, math.ceil(self.chain.poll_interval_seconds))
        attempts = 1 + math.ceil(self.wait_seconds / delay)
        waiter = BaseBotoWaiter(client=self.hook.conn, model_config=INSTANCE_WAITER).waiter(
            "replication_instance_available")
        self.log.info("Waiting for DMS replication instance %s to be available (every %s s, up to %s s)",
                      self.instance_id, delay, self.wait_seconds)
        try:
            waiter.wait(Filters=[{"Name": "replication-instance-id", "Values": [self.instance_id]}],
                        WaiterConfig={"Delay": delay, "MaxAttempts": attempts})
        except WaiterError as err:
            last: dict[str, Any] = err.last_response or {}
            instances: list[dict[str, Any]] = last.get("ReplicationInstances") or [{}]
            status = instances[0].get("ReplicationInstanceStatus")
            if status in INSTANCE_FAILED:
                raise AirflowFailException(f"DMS replication instance {self.instance_id} is {status}") from None
            if error := last.get("Error"):
                raise AirflowException(f"DMS replication instance {self.instance_id}: DescribeReplicationInstances "
                                       f"failed: {error.get('Code')}: {error.get('Message')}") from None
            raise AirflowException(f"DMS replication instance {self.instance_id} still {status} "
                                   f"after {self.wait_seconds} s") from None


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


class DmsReplicationTaskOperator(DmsBaseOperator):
    """Ensure full-load-and-cdc task ``dms_task_id`` for the scope (``schemas``, ``tables``) exists and is ready;
    returns its ARN. ``instance_arn`` and ``endpoints`` (templated) are the two tasks before it's XComs."""

    template_fields: Sequence[str] = (*DmsBaseOperator.template_fields, "instance_arn", "endpoints")

    def __init__(self, *, instance_arn: str, endpoints: Mapping[str, str] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance_arn, self.endpoints = instance_arn, endpoints

    def execute(self, context: Context) -> str:
        from pgshift.migration.checks.dms import describe_first
        from pgshift.migration.scope import Scope

        chain = self.chain
        if not isinstance(self.endpoints, Mapping):
            raise AirflowFailException(f"endpoints must be the dms_endpoints task's ARNs, got {self.endpoints!r}")
        mappings = Scope.from_params(chain.schemas, chain.tables).dms_table_mappings()
        task = describe_first(self.hook.conn.describe_replication_tasks, "ReplicationTasks",
                              "replication-task-id", chain.dms_task_id, WithoutSettings=True)
        if task:
            if task.get("MigrationType") != "full-load-and-cdc":
                raise AirflowFailException(f"DMS task {chain.dms_task_id} exists with migration type "
                                           f"{task.get('MigrationType')}, not full-load-and-cdc")
            self.log.info("DMS task %s exists (%s): reusing it", chain.dms_task_id, task.get("Status"))
            existing: str = task["ReplicationTaskArn"]
            return existing
        arn: str = self.hook.create_replication_task(
            replication_task_id=chain.dms_task_id, source_endpoint_arn=self.endpoints["source_endpoint_arn"],
            target_endpoint_arn=self.endpoints["target_endpoint_arn"], replication_instance_arn=self.instance_arn,
            migration_type="full-load-and-cdc", table_mappings=mappings,
            ReplicationTaskSettings=json.dumps(TASK_SETTINGS))
        self.log.info("DMS task %s is ready: %s", chain.dms_task_id, json.dumps(mappings))
        return arn


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
