"""Waits as data: a check travels to the triggerer as its classpath and fields and comes back the same check."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgshift.citus.status import RebalanceCheck
from pgshift.common.checks.base import Check
from pgshift.common.triggers.poll import PgShiftPollTrigger
from pgshift.migration.checks.cdc_lag import CdcLagCheck
from pgshift.migration.checks.dms_task import DmsTaskCheck, DmsTaskRunningCheck
from pgshift.migration.checks.gate import GateSpec
from pgshift.migration.checks.subscription import SubscriptionSyncedCheck
from pgshift.migration.checks.wal_lag import WalLagCheck
from pgshift.migration.limits import ChainLimits

ROOT = Path(__file__).resolve().parents[1]
LIMITS = ChainLimits(wal_lag_max_bytes=1024, wal_lag_max_seconds=2.5, cdc_lag_max_bytes=2048)
CHECKS = [
    WalLagCheck(conn_a="a", conn_b="b", physical_slot="phys", max_bytes=1024, max_seconds=2.5),
    CdcLagCheck(conn_b="b", slot="logical", max_bytes=2048),
    SubscriptionSyncedCheck(conn_c="c", subscription="sub", conn_a="a"),
    DmsTaskRunningCheck(aws_conn_id="aws_default", task_arn="arn:aws:dms:eu-west-1:1:task:X"),
    DmsTaskCheck(aws_conn_id=None, task_id="pgshift-b-to-c"),
    RebalanceCheck(conn_id="citus_coordinator", job_id=3, statement_timeout=None),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: type(c).__name__)
def test_a_trigger_carries_its_check_to_the_triggerer(check):
    """What the triggerer stores is JSON; what it rebuilds from it is the same check under the same trigger."""
    classpath, kwargs = PgShiftPollTrigger(check, poll_interval=2.0, timeout=60, timeout_hint="h").serialize()
    stored = json.loads(json.dumps(kwargs))
    assert classpath == "pgshift.common.triggers.poll.PgShiftPollTrigger"
    rebuilt = PgShiftPollTrigger(**stored)
    assert rebuilt.check == check and type(rebuilt.check) is type(check)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_only_a_check_class_is_rebuilt_from_a_stored_trigger():
    with pytest.raises(ValueError, match="is not a pgshift check"):
        Check.deserialize({"classpath": "subprocess.Popen", "fields": {"args": ["true"]}})


def test_a_check_refuses_a_field_that_cannot_travel_to_the_triggerer():
    with pytest.raises(TypeError, match="must be a JSON primitive"):
        CdcLagCheck(conn_b="b", slot=["not", "a", "name"], max_bytes=1)  # type: ignore[arg-type]


def test_a_failure_to_read_is_a_reading_not_a_crash():
    class Broken(Check):
        name = "broken"

        def take_reading(self):
            raise ConnectionError("connection refused")

    reading = Broken().read()
    assert not reading.done and not reading.fatal
    assert reading.message == "broken: could not read the figures: ConnectionError: connection refused"


def test_an_older_trigger_runs_its_named_check(monkeypatch):
    """A trigger serialized before checks were objects (a name and kwargs) still reads that check."""
    from pgshift.common.checks.result import CheckResult

    seen = []

    def reading(**kwargs):
        seen.append(kwargs)
        return CheckResult(True, "finished")

    monkeypatch.setattr("pgshift.citus.status.read_rebalance", reading)
    old = {"check": "citus_rebalance", "check_kwargs": {"conn_id": "c", "job_id": 3}, "poll_interval": 1.0,
           "timeout": 60.0, "started_at": 1.0, "timeout_hint": ""}

    async def first():
        async for event in PgShiftPollTrigger(**old).run():
            return event.payload

    assert asyncio.run(first())["status"] == "success"
    assert seen == [{"conn_id": "c", "job_id": 3, "connect_timeout": 10, "statement_timeout": 60}]
    assert PgShiftPollTrigger(**old).serialize()[1] == old


def test_the_gate_reads_the_chain_with_its_limits():
    chain = dict(conn_a="a", conn_b="b", conn_c="c", physical_slot="phys", slot="logical", subscription="sub",
                 limits=LIMITS, aws_conn_id="aws", dms_task_id="task")
    native, dms = GateSpec.for_chain(mode="native", **chain), GateSpec.for_chain(mode="dms", **chain)
    assert native.checks == (("a_to_b", CHECKS[0]), ("b_to_c", CHECKS[1]),
                             ("subscription", SubscriptionSyncedCheck(conn_c="c", subscription="sub")))
    assert dms.checks[-1] == ("dms", DmsTaskCheck(aws_conn_id="aws", task_id="task"))


def test_limits_are_typed_from_the_configuration_values():
    from chain_helpers import chain_config

    limits = chain_config(wal_lag_max_seconds=30, poll_interval_seconds=5).limits()
    assert limits == ChainLimits(16 * 2**20, 30.0, 16 * 2**20, 5.0)
    assert isinstance(limits.wal_lag_max_seconds, float) and isinstance(limits.poll_interval_seconds, float)


def test_the_sensors_and_the_trigger_import_no_driver():
    """Sensors import their checks when a DAG file is parsed; the triggerer imports every check module. Neither
    may load a driver or a provider hook that Airflow itself has not loaded already."""
    heavy = ("psycopg2", "boto3", "botocore", "sqlalchemy", "paramiko", "asyncssh",
             "airflow.providers.postgres.hooks.postgres", "airflow.providers.amazon.aws.hooks.dms")
    code = (f"import sys, airflow.sdk, airflow.triggers.base; before = set(sys.modules); "
            f"import pgshift.migration.sensors.replication, pgshift.citus.sensors, pgshift.common.triggers.poll; "
            f"import pgshift.migration.checks.gate; "
            f"print(sorted(m for m in {heavy!r} if m in set(sys.modules) - before))")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert out.strip() == "[]"
