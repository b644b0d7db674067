"""The DMS operators and checks against moto, without PostgreSQL servers: the replication-instance wait
(a boto waiter), DMS's ResourceNotFoundFault for a filter that matches nothing, and a DAG parse that does
not import boto3/botocore.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from chain_helpers import chain_config
from moto import mock_aws
from moto.dms import models as dms_models
from moto.dms.exceptions import ResourceNotFoundFault
from moto.moto_api import state_manager
from testing_support import MOTO_ACCOUNT, MOTO_REGION, moto_aws_env

from pgshift.migration.checks.dms import check_dms_task, find_task_arn
from pgshift.migration.operators.dms import (
    DmsEndpointsOperator,
    DmsReplicationInstanceOperator,
    DmsReplicationTaskOperator,
    DmsStartTaskOperator,
)

ROOT = Path(__file__).resolve().parents[1]
REGION, ACCOUNT = MOTO_REGION, MOTO_ACCOUNT
INSTANCE_MODEL = "dms::replicationinstance"


@pytest.fixture
def dms(monkeypatch):
    moto_aws_env(monkeypatch, dms_pg_b="postgresql://replicator:secret-b@10.0.0.2:5433/app",
                 dms_pg_c="postgresql://app:secret-c@10.0.0.3:5432/app")
    with mock_aws():
        yield dms_models.dms_backends[ACCOUNT][REGION]
    state_manager.unset_transition(INSTANCE_MODEL)


@pytest.fixture
def real_dms_not_found(monkeypatch):
    """DMS answers a describe filter that matches nothing with ResourceNotFoundFault (moto: an empty list)."""
    backend = dms_models.DatabaseMigrationServiceBackend
    for name, what in (("describe_replication_instances", "Replication instance"),
                       ("describe_endpoints", "Endpoint"), ("describe_replication_tasks", "Replication task")):
        original = getattr(backend, name)

        def raising(self, *args, _original=original, _what=what, **kwargs):
            found = _original(self, *args, **kwargs)
            if not found:
                raise ResourceNotFoundFault(f"{_what} could not be found.")
            return found

        monkeypatch.setattr(backend, name, raising)


def instance_op(**overrides) -> DmsReplicationInstanceOperator:
    config = chain_config(dms_replication_instance_id="ri", aws_conn_id="aws_default", poll_interval_seconds=1)
    return DmsReplicationInstanceOperator(**{"task_id": "dms_replication_instance", "config": config,
                                             "wait_seconds": 30, **overrides})


def test_instance_wait_polls_until_available(dms, monkeypatch):
    seen = []
    original = dms_models.DatabaseMigrationServiceBackend.describe_replication_instances

    def describe(self, *args, **kwargs):
        found = original(self, *args, **kwargs)
        seen.extend(i.status for i in found)
        return found

    monkeypatch.setattr(dms_models.DatabaseMigrationServiceBackend, "describe_replication_instances", describe)
    state_manager.set_transition(INSTANCE_MODEL, {"progression": "manual", "times": 3})
    arn = instance_op().execute({})
    (instance,) = dms.replication_instances.values()
    assert arn == instance.arn
    assert seen == ["creating", "creating", "available"]  # the waiter polled until it left "creating"


def test_instance_that_never_becomes_available_times_out_for_a_retry(dms):
    state_manager.set_transition(INSTANCE_MODEL, {"progression": "manual", "times": 1000})
    with pytest.raises(AirflowException) as err:
        instance_op(wait_seconds=2).execute({})
    assert not isinstance(err.value, AirflowFailException)
    assert str(err.value) == "DMS replication instance ri still creating after 2 s"


@pytest.mark.parametrize("status", ["failed", "incompatible-network", "storage-full"])
def test_failed_instance_fails_at_once(dms, status):
    arn = instance_op().execute({})
    dms.replication_instances[arn].status = status  # the existing instance is reused, and waited for
    with pytest.raises(AirflowFailException, match=f"^DMS replication instance ri is {status}$"):
        instance_op(wait_seconds=600).execute({})


def test_not_found_is_read_from_the_error_code(dms, real_dms_not_found, monkeypatch):
    assert find_task_arn("aws_default", "nope") is None
    reading = check_dms_task("aws_default", "nope")
    assert (reading.done, reading.fatal, reading.message) == (False, True, "DMS task 'nope' does not exist")
    instance = instance_op().execute({})
    config = chain_config(dms_source_endpoint_id="src", dms_target_endpoint_id="tgt", conn_b_subscription="dms_pg_b",
                          conn_c="dms_pg_c", slot_name="c_slot", dms_task_id="b-to-c", tables=["public.orders"])
    endpoints = DmsEndpointsOperator(task_id="e", config=config).execute({})
    assert set(dms.endpoints) == {"src", "tgt"}
    assert DmsEndpointsOperator(task_id="e", config=config).execute({}) == endpoints
    original = dms_models.DatabaseMigrationServiceBackend.create_replication_task

    def create_then_ready(self, *args, **kwargs):  # moto never makes a task ready by itself
        return original(self, *args, **kwargs).ready()

    monkeypatch.setattr(dms_models.DatabaseMigrationServiceBackend, "create_replication_task", create_then_ready)
    arn = DmsReplicationTaskOperator(task_id="t", config=config, instance_arn=instance,
                                     endpoints=endpoints).execute({})
    assert find_task_arn("aws_default", "b-to-c") == arn
    assert DmsStartTaskOperator(task_id="s", config=config, task_arn=arn).execute({}) == "start-replication"


def test_other_aws_errors_are_raised(dms, monkeypatch):
    from botocore.exceptions import ClientError

    def denied(self, *args, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDeniedFault", "Message": "ResourceNotFound? no: denied"}},
                          "DescribeReplicationTasks")

    monkeypatch.setattr(dms_models.DatabaseMigrationServiceBackend, "describe_replication_tasks", denied)
    with pytest.raises(ClientError, match="AccessDeniedFault"):
        find_task_arn("aws_default", "b-to-c")


def test_aws_parameters_reach_the_hook(dms):
    op = instance_op(region_name="eu-west-1", verify=False,
                     botocore_config={"retries": {"max_attempts": 2}})
    assert (op.hook.aws_conn_id, op.hook.region_name, op.hook.verify) == ("aws_default", "eu-west-1", False)
    assert op.hook.conn.meta.region_name == "eu-west-1"
    assert op.hook.conn.meta.config.retries["total_max_attempts"] == 3


def test_parsing_the_dag_modules_imports_no_aws_or_database_library():
    code = ("import sys, airflow.sdk\n"
            "before = set(sys.modules)\n"
            "import pgshift.migration.operators.dms, pgshift.migration.operators.preflight\n"
            "import pgshift.migration.operators.validate\n"
            "import pgshift.migration.checks.dms\n"
            "bad = ('boto3', 'botocore', 'psycopg2', 'paramiko', 'airflow.providers.amazon.aws.hooks',\n"
            "       'airflow.providers.postgres.hooks', 'airflow.providers.ssh.hooks')\n"
            "print(sorted(m for m in set(sys.modules) - before if m.startswith(bad)))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
