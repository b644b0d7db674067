"""The DMS operators, waits and checks against moto as a server (tests/moto_dms_server.py), without PostgreSQL
servers: each wait read in the worker, then deferred to the amazon provider's trigger (run here as the triggerer
runs it, over aiobotocore), or waited for in the worker when not deferrable; DMS's ResourceNotFoundFault; the
task settings and table mappings sent; a DAG parse that does not import boto3/botocore.

The states come from the server's HTTP API only (moto's state manager: ``set-transition``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred
from chain_helpers import chain_config
from testing_support import MOTO_INSTANCE_MODEL, MOTO_TASK_MODEL, MotoServer, moto_aws_env

from pgshift.migration.checks.dms import check_dms_task, describe_first, find_task_arn
from pgshift.migration.operators.dms import (
    DmsEndpointsOperator,
    DmsReplicationInstanceOperator,
    DmsReplicationTaskOperator,
    DmsStartTaskOperator,
)
from pgshift.migration.sensors.replication import DmsTaskRunningSensor
from pgshift.migration.triggers.dms import DmsInstanceAvailableTrigger, DmsTaskFullLoadTrigger, DmsTaskReadyTrigger

ROOT = Path(__file__).resolve().parents[1]
TABLES = ["public.orders", "public.pgbench_accounts"]


@pytest.fixture
def dms(moto_server: MotoServer, monkeypatch):
    """A client of the emptied moto server, through ``aws_default`` as the operators reach it."""
    from airflow.providers.amazon.aws.hooks.dms import DmsHook

    moto_server.reset()
    moto_aws_env(monkeypatch, moto_server, dms_pg_b="postgresql://replicator:secret-b@10.0.0.2:5433/app",
                 dms_pg_c="postgresql://app:secret-c@10.0.0.3:5432/app")
    return DmsHook(aws_conn_id="aws_default").conn


def config(**overrides: Any):
    return chain_config(**{"dms_replication_instance_id": "ri", "aws_conn_id": "aws_default",
                           "poll_interval_seconds": 1, "dms_source_endpoint_id": "src",
                           "dms_target_endpoint_id": "tgt", "conn_b_subscription": "dms_pg_b", "conn_c": "dms_pg_c",
                           "slot_name": "c_slot", "dms_task_id": "b-to-c", "tables": TABLES, **overrides})


def instance_op(**overrides: Any) -> DmsReplicationInstanceOperator:
    return DmsReplicationInstanceOperator(**{"task_id": "dms_replication_instance", "config": config(),
                                             "wait_seconds": 30, **overrides})


def deferred(op: Any) -> tuple[Any, Any]:
    """``op`` run to its deferral; the trigger it handed over and the event that trigger fires (run as the
    triggerer runs it); the test resumes ``op`` with that event."""
    with pytest.raises(TaskDeferred) as deferral:
        op.execute({})
    return deferral.value.trigger, fire(deferral.value.trigger)


def fire(trigger: Any) -> Any:
    """The first event of ``trigger``, rebuilt from its serialized form as the triggerer does, and run."""
    classpath, kwargs = trigger.serialize()  # what the triggerer gets: rebuilt from its serialized form
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)

    async def first_event() -> Any:
        async for event in rebuilt.run():
            return event.payload
        return None

    return asyncio.run(first_event())


def task_ready_op(instance: str, endpoints: dict[str, str], **overrides: Any) -> DmsReplicationTaskOperator:
    return DmsReplicationTaskOperator(task_id="dms_task", config=overrides.pop("config", config()),
                                      instance_arn=instance, endpoints=endpoints, **overrides)


def test_instance_wait_polls_in_the_worker_until_available(dms, moto_server, caplog):
    moto_server.set_transition(MOTO_INSTANCE_MODEL, progression="manual", times=3)
    caplog.set_level(logging.INFO)
    arn = instance_op(deferrable=False).execute({})
    (instance,) = dms.describe_replication_instances()["ReplicationInstances"]
    assert (arn, instance["ReplicationInstanceStatus"]) == (instance["ReplicationInstanceArn"], "available")
    polled = [r.getMessage() for r in caplog.records if r.getMessage().startswith("DMS replication instance ri: ")]
    assert polled == ["DMS replication instance ri: creating"] * 2  # two readings before the one that succeeded


def test_instance_wait_defers_to_the_providers_trigger(dms, moto_server):
    moto_server.set_transition(MOTO_INSTANCE_MODEL, progression="manual", times=3)
    op = instance_op()
    trigger, event = deferred(op)
    assert isinstance(trigger, DmsInstanceAvailableTrigger)
    assert (trigger.waiter_name, trigger.waiter_delay, trigger.attempts) == ("replication_instance_available", 1, 30)
    assert event == {"status": "success", "value": "ri"}
    (instance,) = dms.describe_replication_instances()["ReplicationInstances"]
    assert op.execute_complete({}, event) == instance["ReplicationInstanceArn"]


def test_an_available_instance_is_not_waited_for(dms):
    arn = instance_op().execute({})  # moto's default transition: available at the first describe
    assert arn == dms.describe_replication_instances()["ReplicationInstances"][0]["ReplicationInstanceArn"]


def test_instance_that_never_becomes_available_times_out_for_a_retry(dms, moto_server):
    moto_server.set_transition(MOTO_INSTANCE_MODEL, progression="manual", times=1000)
    with pytest.raises(AirflowException) as err:
        instance_op(deferrable=False, wait_seconds=2).execute({})
    assert not isinstance(err.value, AirflowFailException)
    assert str(err.value) == "DMS replication instance ri still creating after 2 s"
    op = instance_op(wait_seconds=2)
    _, event = deferred(op)
    assert (event["status"], event["reason"]) == ("error", "timeout")
    with pytest.raises(AirflowException) as err:
        op.execute_complete({}, event)
    assert not isinstance(err.value, AirflowFailException)
    assert str(err.value) == "DMS replication instance ri still creating after 2 s"


@pytest.mark.parametrize("status", ["failed", "incompatible-network", "storage-full"])
def test_failed_instance_fails_at_once(dms, moto_server, status):
    moto_server.set_transition(MOTO_INSTANCE_MODEL, progression="immediate", fail_as=status)
    with pytest.raises(AirflowFailException, match=f"^DMS replication instance ri is {status}$"):
        instance_op(wait_seconds=600).execute({})


def test_an_instance_failing_while_deferred_fails_without_retry(dms, moto_server):
    moto_server.set_transition(MOTO_INSTANCE_MODEL, progression="manual", times=1000)
    op = instance_op(wait_seconds=600)
    with pytest.raises(TaskDeferred) as deferral:
        op.execute({})
    moto_server.set_transition(MOTO_INSTANCE_MODEL, progression="manual", times=1000, fail_as="storage-full")
    event = fire(deferral.value.trigger)
    assert (event["status"], event["reason"]) == ("error", "failure")
    with pytest.raises(AirflowFailException, match=r"^DMS replication instance ri is storage-full$"):
        op.execute_complete({}, event)


def endpoints_and_instance() -> tuple[str, dict[str, str]]:
    instance = instance_op().execute({})
    return instance, DmsEndpointsOperator(task_id="e", config=config()).execute({})


def test_the_task_is_created_with_the_dbas_settings_and_waited_for(dms, moto_server):
    moto_server.set_transition(MOTO_TASK_MODEL, progression="manual", times=2)
    instance, endpoints = endpoints_and_instance()
    chosen = config(dms_max_full_load_subtasks=16, dms_lob_mode="inline", dms_lob_chunk_size_kb=32,
                    dms_inline_lob_max_size_kb=256, dms_parallel_load_partitions=["public.pgbench_accounts"],
                    dms_parallel_load_ranges={"public.orders": {"id": ["1000", "2000"], "region": ["eu", "us"]}})
    op = task_ready_op(instance, endpoints, config=chosen)
    trigger, event = deferred(op)
    assert isinstance(trigger, DmsTaskReadyTrigger) and event["status"] == "success"
    (task,) = dms.describe_replication_tasks()["ReplicationTasks"]
    assert op.execute_complete({}, event) == task["ReplicationTaskArn"]
    assert task["Status"] == "ready"
    settings = json.loads(task["ReplicationTaskSettings"])
    assert settings["FullLoadSettings"] == {"TargetTablePrepMode": "TRUNCATE_BEFORE_LOAD", "MaxFullLoadSubTasks": 16}
    assert settings["TargetMetadata"] == {"SupportLobs": True, "FullLobMode": True, "LimitedSizeLobMode": False,
                                          "LobChunkSize": 32, "InlineLobMaxSize": 256}
    rules = json.loads(task["TableMappings"])["rules"]
    assert [r["rule-type"] for r in rules] == ["selection", "selection", "table-settings", "table-settings"]
    assert len({r["rule-id"] for r in rules}) == 4
    assert [(r["object-locator"], r["parallel-load"]) for r in rules[2:]] == [
        ({"schema-name": "public", "table-name": "pgbench_accounts"}, {"type": "partitions-auto"}),
        ({"schema-name": "public", "table-name": "orders"},
         {"type": "ranges", "columns": ["id", "region"], "boundaries": [["1000", "eu"], ["2000", "us"]]}),
    ]


def test_the_default_settings_are_limited_lob_mode_and_eight_subtasks(dms):
    instance, endpoints = endpoints_and_instance()
    task_ready_op(instance, endpoints).execute({})  # ready at the first reading: no deferral
    (task,) = dms.describe_replication_tasks()["ReplicationTasks"]
    settings = json.loads(task["ReplicationTaskSettings"])
    assert settings["FullLoadSettings"]["MaxFullLoadSubTasks"] == 8
    assert settings["TargetMetadata"] == {"SupportLobs": True, "FullLobMode": False, "LimitedSizeLobMode": True,
                                          "LobMaxSize": 32}
    assert [r["rule-type"] for r in json.loads(task["TableMappings"])["rules"]] == ["selection", "selection"]


def test_full_load_wait_defers_then_the_task_runs(dms, moto_server):
    instance, endpoints = endpoints_and_instance()
    arn = task_ready_op(instance, endpoints).execute({})
    moto_server.set_transition(MOTO_TASK_MODEL, progression="manual", times=2)
    assert DmsStartTaskOperator(task_id="s", config=config(), task_arn=arn).execute({}) == "start-replication"
    sensor = DmsTaskRunningSensor(task_id="wait", config=config(), task_arn=arn, wait_seconds=30)
    trigger, event = deferred(sensor)
    assert isinstance(trigger, DmsTaskFullLoadTrigger) and event == {"status": "success", "value": arn}
    reading = sensor.execute_complete({}, event)
    assert (reading["status"], reading["FullLoadProgressPercent"], reading["TablesLoading"]) == ("running", 100, 0)


def test_failed_dms_task_fails_fast_quoting_its_message(dms, moto_server):
    instance, endpoints = endpoints_and_instance()
    arn = task_ready_op(instance, endpoints).execute({})
    DmsStartTaskOperator(task_id="s", config=config(), task_arn=arn).execute({})
    moto_server.set_transition(MOTO_TASK_MODEL, progression="immediate",
                               fail_with="Error in slot creation: replication slot is not active")
    sensor = DmsTaskRunningSensor(task_id="wait", config=config(), task_arn=arn, timeout=60)
    assert sensor.wait_seconds == 60  # a sensor's timeout, as the DAGs gave it before the wait became a waiter
    with pytest.raises(AirflowFailException) as err:
        sensor.execute({})
    assert str(err.value) == "DMS task b-to-c is failed: Error in slot creation: replication slot is not active"


def test_not_found_is_read_from_the_error_code(dms):
    assert find_task_arn("aws_default", "nope") is None  # the server answers ResourceNotFoundFault, as DMS does
    reading = check_dms_task("aws_default", "nope")
    assert (reading.done, reading.fatal, reading.message) == (False, True, "DMS task 'nope' does not exist")
    instance, endpoints = endpoints_and_instance()
    assert {e["EndpointIdentifier"] for e in dms.describe_endpoints()["Endpoints"]} == {"src", "tgt"}
    assert DmsEndpointsOperator(task_id="e", config=config()).execute({}) == endpoints
    arn = task_ready_op(instance, endpoints).execute({})
    assert find_task_arn("aws_default", "b-to-c") == arn
    assert task_ready_op(instance, endpoints).execute({}) == arn  # reused, not created twice
    assert DmsStartTaskOperator(task_id="s", config=config(), task_arn=arn).execute({}) == "start-replication"


def test_other_aws_errors_are_raised(dms, moto_server):
    from botocore.exceptions import ClientError

    moto_server.post("reset-auth", "0")  # from now on the server checks credentials: ours are unknown to it
    try:
        with pytest.raises(ClientError) as err:
            describe_first(dms.describe_replication_tasks, "ReplicationTasks", "replication-task-id", "b-to-c")
    finally:
        moto_server.post("reset-auth", "inf")
    assert err.value.response["Error"]["Code"] not in ("ResourceNotFoundFault", None)


def test_aws_parameters_reach_the_hook(dms):
    op = instance_op(region_name="eu-west-1", verify=False, botocore_config={"retries": {"max_attempts": 2}})
    assert (op.hook.aws_conn_id, op.hook.region_name, op.hook.verify) == ("aws_default", "eu-west-1", False)
    assert op.hook.conn.meta.region_name == "eu-west-1"
    assert op.hook.conn.meta.config.retries["total_max_attempts"] == 3
    assert op.hook.conn.meta.endpoint_url.startswith("http://127.0.0.1:")


def test_parsing_the_dag_modules_imports_no_aws_or_database_library():
    code = ("import sys, airflow.sdk\n"
            "before = set(sys.modules)\n"
            "import pgshift.migration.operators.dms, pgshift.migration.operators.preflight\n"
            "import pgshift.migration.operators.validate, pgshift.migration.sensors.replication\n"
            "import pgshift.migration.checks.dms\n"
            "bad = ('boto3', 'botocore', 'aiobotocore', 'psycopg2', 'paramiko', 'airflow.providers.amazon.aws.hooks',\n"
            "       'airflow.providers.amazon.aws.triggers', 'airflow.providers.postgres.hooks',\n"
            "       'airflow.providers.ssh.hooks')\n"
            "print(sorted(m for m in set(sys.modules) - before if m.startswith(bad)))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
