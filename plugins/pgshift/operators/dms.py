"""The DMS path B -> C: replication instance, endpoints, task, start; each step idempotent.

Built on the amazon provider's :class:`DmsHook` (``create_replication_task`` waits for ``ready``).
The source is the standby B: DMS must not write to it, so heartbeat and DDL capture are off, and it
reads the pre-created slot with ``test_decoding`` (DMS does not accept pgoutput).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.hooks.dms import DmsHook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from pgshift.hooks.postgres import PgShiftHook
from pgshift.scope import Scope

TASK_SETTINGS: dict[str, Any] = {
    # Schema is copied to C beforehand (pg_dump --schema-only); a restarted full load starts clean.
    "FullLoadSettings": {"TargetTablePrepMode": "TRUNCATE_BEFORE_LOAD"},
    "TargetMetadata": {"SupportLobs": True, "LimitedSizeLobMode": True, "LobMaxSize": 32},
    "Logging": {"EnableLogging": True},
}


def _not_found(exc: Exception) -> bool:
    return "ResourceNotFound" in type(exc).__name__ or "ResourceNotFound" in str(exc)


class DmsReplicationInstanceOperator(AwsBaseOperator[DmsHook]):
    """Ensure replication instance ``instance_id`` exists and is available; returns its ARN."""

    aws_hook_class = DmsHook
    template_fields: Sequence[str] = ("instance_id", "instance_class", "engine_version", "poll_interval",
                                      "aws_conn_id", "region_name")

    def __init__(self, *, instance_id: str, instance_class: str = "dms.t3.medium", engine_version: str | None = None,
                 allocated_storage: int = 50, wait_seconds: float = 1800, poll_interval: float = 15,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance_id, self.instance_class, self.engine_version = instance_id, instance_class, engine_version
        self.allocated_storage, self.wait_seconds, self.poll_interval = allocated_storage, wait_seconds, poll_interval

    def _describe(self) -> dict[str, Any] | None:
        try:
            found = self.hook.conn.describe_replication_instances(
                Filters=[{"Name": "replication-instance-id", "Values": [self.instance_id]}])
        except Exception as exc:
            if _not_found(exc):
                return None
            raise
        return (found.get("ReplicationInstances") or [None])[0]

    def execute(self, context: Context) -> str:
        instance = self._describe()
        if instance is None:
            kwargs: dict[str, Any] = {"ReplicationInstanceIdentifier": self.instance_id,
                                      "ReplicationInstanceClass": self.instance_class,
                                      "AllocatedStorage": int(self.allocated_storage), "PubliclyAccessible": False}
            if self.engine_version:
                kwargs["EngineVersion"] = self.engine_version
            self.hook.conn.create_replication_instance(**kwargs)
            self.log.info("Created DMS replication instance %s (%s)", self.instance_id, self.instance_class)
        else:
            self.log.info("DMS replication instance %s exists (%s)", self.instance_id,
                          instance.get("ReplicationInstanceStatus"))
        deadline = time.monotonic() + float(self.wait_seconds)
        while True:
            instance = self._describe()
            status = instance and instance.get("ReplicationInstanceStatus")
            if status == "available":
                return instance["ReplicationInstanceArn"]
            if status in ("failed", "deleting", "incompatible-network", "storage-full"):
                raise AirflowFailException(f"DMS replication instance {self.instance_id} is {status}")
            if time.monotonic() > deadline:
                raise AirflowException(f"DMS replication instance {self.instance_id} still {status} "
                                       f"after {self.wait_seconds} s")
            time.sleep(float(self.poll_interval))


class DmsEndpointsOperator(AwsBaseOperator[DmsHook]):
    """Ensure the source endpoint (B, read-only) and target endpoint (C); returns both ARNs.

    Credentials come from the Airflow connections and go only to the DMS API, never to the log or XCom.
    """

    aws_hook_class = DmsHook
    template_fields: Sequence[str] = ("source_endpoint_id", "target_endpoint_id", "conn_b_source", "conn_c",
                                      "slot", "ssl_mode", "target_engine", "aws_conn_id", "region_name")

    def __init__(self, *, source_endpoint_id: str, target_endpoint_id: str, conn_b_source: str, conn_c: str,
                 slot: str, ssl_mode: str = "require", target_engine: str = "aurora-postgresql",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_endpoint_id, self.target_endpoint_id = source_endpoint_id, target_endpoint_id
        self.conn_b_source, self.conn_c, self.slot = conn_b_source, conn_c, slot
        self.ssl_mode, self.target_engine = ssl_mode, target_engine

    def source_settings(self) -> dict[str, Any]:
        """The PostgreSQL source settings that make DMS safe on a read-only standby."""
        return {"SlotName": self.slot, "PluginName": "test-decoding", "HeartbeatEnable": False,
                "CaptureDdls": False}

    def _existing(self, endpoint_id: str) -> dict[str, Any] | None:
        try:
            found = self.hook.conn.describe_endpoints(Filters=[{"Name": "endpoint-id", "Values": [endpoint_id]}])
        except Exception as exc:
            if _not_found(exc):
                return None
            raise
        return (found.get("Endpoints") or [None])[0]

    def _ensure(self, endpoint_id: str, endpoint_type: str, engine: str, conn_id: str,
                extra: dict[str, Any]) -> str:
        existing = self._existing(endpoint_id)
        if existing:
            self.log.info("DMS %s endpoint %s exists: reusing it", endpoint_type, endpoint_id)
            return existing["EndpointArn"]
        p = PgShiftHook(conn_id).conn_params()
        created = self.hook.conn.create_endpoint(
            EndpointIdentifier=endpoint_id, EndpointType=endpoint_type, EngineName=engine,
            ServerName=str(p["host"]), Port=int(p["port"]), DatabaseName=str(p["dbname"]),
            Username=str(p["user"]), Password=str(p["password"]), SslMode=self.ssl_mode, **extra)
        self.log.info("Created DMS %s endpoint %s (%s on %s:%s/%s)", endpoint_type, endpoint_id, engine,
                      p["host"], p["port"], p["dbname"])
        return created["Endpoint"]["EndpointArn"]

    def execute(self, context: Context) -> dict[str, str]:
        source = self._ensure(self.source_endpoint_id, "source", "postgres", self.conn_b_source,
                              {"PostgreSQLSettings": self.source_settings()})
        target = self._ensure(self.target_endpoint_id, "target", self.target_engine, self.conn_c, {})
        return {"source_endpoint_arn": source, "target_endpoint_arn": target}


class DmsReplicationTaskOperator(AwsBaseOperator[DmsHook]):
    """Ensure a full-load-and-cdc task for the scope exists and is ready; returns its ARN."""

    aws_hook_class = DmsHook
    template_fields: Sequence[str] = ("task_id_dms", "instance_arn", "endpoints", "schemas", "tables",
                                      "aws_conn_id", "region_name")

    def __init__(self, *, task_id_dms: str, instance_arn: str, endpoints: dict[str, str],
                 schemas: list[str] | None = None, tables: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_id_dms, self.instance_arn, self.endpoints = task_id_dms, instance_arn, endpoints
        self.schemas, self.tables = schemas, tables

    def execute(self, context: Context) -> str:
        mappings = Scope.from_params(self.schemas, self.tables).dms_table_mappings()
        _, tasks = self.hook.describe_replication_tasks(
            Filters=[{"Name": "replication-task-id", "Values": [self.task_id_dms]}], WithoutSettings=True)
        if tasks:
            task = tasks[0]
            if task.get("MigrationType") != "full-load-and-cdc":
                raise AirflowFailException(f"DMS task {self.task_id_dms} exists with migration type "
                                           f"{task.get('MigrationType')}, not full-load-and-cdc")
            self.log.info("DMS task %s exists (%s): reusing it", self.task_id_dms, task.get("Status"))
            return task["ReplicationTaskArn"]
        arn = self.hook.create_replication_task(
            replication_task_id=self.task_id_dms, source_endpoint_arn=self.endpoints["source_endpoint_arn"],
            target_endpoint_arn=self.endpoints["target_endpoint_arn"], replication_instance_arn=self.instance_arn,
            migration_type="full-load-and-cdc", table_mappings=mappings,
            ReplicationTaskSettings=json.dumps(TASK_SETTINGS))
        self.log.info("DMS task %s is ready: %s", self.task_id_dms, json.dumps(mappings))
        return arn


class DmsStartTaskOperator(AwsBaseOperator[DmsHook]):
    """Start the task unless it already runs: ready -> start-replication, stopped -> resume-processing."""

    aws_hook_class = DmsHook
    template_fields: Sequence[str] = ("task_arn", "aws_conn_id", "region_name")

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
