"""The deadline alert as the triggerer runs it: ``await DeadlineMissedNotifier(**kwargs, context=context)``.

The context is built the way Airflow 3.3.2's ``Deadline.handle_miss`` builds it (a real DagRun through
``DAGRunResponse.model_dump(mode="json")``) and taken through the same serializations (the callback's
ExtendedJSON column, the trigger's kwargs) before it reaches the notifier.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from airflow.sdk import BaseNotifier

from pgshift.common.dag_defaults import dag_arguments
from pgshift.common.notifications.deadline import DeadlineConfigError, DeadlineMissedNotifier, DeadlineNotificationError

NOTIFIER_PATH = "pgshift.common.notifications.deadline.DeadlineMissedNotifier"
PROBE = Path(__file__).resolve().parent / "deadline_probe"
QUEUED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEADLINE_TIME = QUEUED_AT + timedelta(hours=24)
RUN_ID = "manual__2026-03-01T12:00:00+00:00"


class RecordingNotifier(BaseNotifier):
    """Forwarded to by path (``test_deadline.RecordingNotifier``); keeps what it was rendered to."""

    template_fields: Sequence[str] = ("text", "subject")
    sent: ClassVar[list[dict[str, str]]] = []

    def __init__(self, text: str, subject: str = "") -> None:
        super().__init__()
        self.text = text
        self.subject = subject

    async def async_notify(self, context: Any) -> None:
        self.sent.append({"text": self.text, "subject": self.subject})


class SyncRecordingNotifier(RecordingNotifier):
    """A notifier with ``notify`` only, like many provider notifiers."""

    async_notify = BaseNotifier.async_notify

    def notify(self, context: Any) -> None:
        self.sent.append({"text": self.text, "subject": self.subject, "sync": "yes"})


class FailingNotifier(BaseNotifier):
    async def async_notify(self, context: Any) -> None:
        raise ConnectionError("the chat service is down")


def spec(notifier: str, **kwargs: Any) -> dict[str, Any]:
    return {"notifier": notifier, "kwargs": kwargs}


RECORD = spec("test_deadline.RecordingNotifier", text="{{ message }}", subject="{{ subject }} [{{ run_id }}]")


@pytest.fixture(autouse=True)
def fresh_records(monkeypatch: pytest.MonkeyPatch) -> None:
    RecordingNotifier.sent.clear()
    for key in ("AIRFLOW__PGSHIFT__DEADLINE_NOTIFIERS", "AIRFLOW__PGSHIFT__DEADLINE_SECONDS"):
        monkeypatch.delenv(key, raising=False)


def miss_context(state: str, end_date: datetime | None = None) -> dict[str, Any]:
    """What handle_miss sends: the run as DAGRunResponse.model_dump(mode="json") plus the deadline."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse
    from airflow.models import DagRun
    from airflow.models.dag import DagModel
    from airflow.utils.types import DagRunType

    run = DagRun(dag_id="hybrid_aurora_migration", run_id=RUN_ID, queued_at=QUEUED_AT, run_type=DagRunType.MANUAL,
                 state=state, run_after=QUEUED_AT, conf={})
    run.dag_model = DagModel(dag_id="hybrid_aurora_migration")
    run.start_date = QUEUED_AT + timedelta(seconds=3)
    run.end_date = end_date
    return {"dag_run": DAGRunResponse.model_validate(run).model_dump(mode="json"),
            "deadline": {"id": str(uuid.uuid4()), "deadline_time": DEADLINE_TIME}}


def callback_kwargs(notifiers: list[dict[str, Any]], context: dict[str, Any]) -> dict[str, Any]:
    """The DAG's callback kwargs plus the context, through the callback row's and the trigger's serialization."""
    from airflow.models.trigger import Trigger
    from airflow.serialization.serialized_objects import BaseSerialization

    kwargs = {"dag_id": "hybrid_aurora_migration", "allowed_seconds": 86400.0, "notifiers": json.dumps(notifiers),
              "context": context}
    stored = BaseSerialization.deserialize(BaseSerialization.serialize({"kwargs": kwargs}))["kwargs"]
    return Trigger._decrypt_kwargs(Trigger.encrypt_kwargs(stored))


def await_notifier(kwargs: dict[str, Any]) -> None:
    """The triggerer's ``await callback(**kwargs, context=context)``."""
    kwargs = dict(kwargs)
    context = kwargs.pop("context")

    async def go() -> None:
        await DeadlineMissedNotifier(**kwargs, context=context)

    asyncio.run(go())


@pytest.mark.parametrize("state", ["running", "queued"])
def test_an_overrunning_run_alerts_with_its_run_id(state: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pgshift"):
        await_notifier(callback_kwargs([RECORD], miss_context(state)))
    (sent,) = RecordingNotifier.sent
    assert RUN_ID in sent["text"] and f"is still {state}" in sent["text"] and "1 day, 0:00:00 allowed" in sent["text"]
    assert DEADLINE_TIME.isoformat() in sent["text"]
    assert sent["subject"] == f"pgshift: hybrid_aurora_migration run {RUN_ID} missed its deadline [{RUN_ID}]"
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == sent["text"]


@pytest.mark.parametrize(("state", "ended", "logged"), [
    ("failed", DEADLINE_TIME - timedelta(hours=20), "ended failed before its deadline"),
    ("success", DEADLINE_TIME - timedelta(minutes=1), "ended in time"),
    ("failed", DEADLINE_TIME + timedelta(seconds=2), "just after its deadline"),
])
def test_a_run_that_ended_raises_no_alert(state: str, ended: datetime, logged: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pgshift"):
        await_notifier(callback_kwargs([RECORD], miss_context(state, end_date=ended)))
    assert RecordingNotifier.sent == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    (record,) = [r for r in caplog.records if r.name.startswith("pgshift")]
    assert logged in record.getMessage() and RUN_ID in record.getMessage()


def test_the_callback_trigger_runs_it_as_in_the_triggerer() -> None:
    """Airflow's own CallbackTrigger imports the class by its path and awaits it with the context."""
    from airflow.models.callback import CallbackState
    from airflow.triggers.callback import CallbackTrigger

    async def events(trigger: CallbackTrigger) -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    payloads = asyncio.run(events(CallbackTrigger(NOTIFIER_PATH, callback_kwargs([RECORD], miss_context("running")))))
    assert [p["state"] for p in payloads] == [CallbackState.RUNNING, CallbackState.SUCCESS]
    assert RUN_ID in RecordingNotifier.sent[0]["text"]

    failing = callback_kwargs([spec("test_deadline.FailingNotifier")], miss_context("running"))
    payloads = asyncio.run(events(CallbackTrigger(NOTIFIER_PATH, failing)))
    assert payloads[-1]["state"] == CallbackState.FAILED and "FailingNotifier" in payloads[-1]["body"]


def test_one_failing_notifier_does_not_silence_the_others(caplog: pytest.LogCaptureFixture) -> None:
    notifiers = [spec("test_deadline.FailingNotifier"), RECORD,
                 spec("test_deadline.SyncRecordingNotifier", text="sync {{ run_id }}")]
    with pytest.raises(DeadlineNotificationError, match=r"test_deadline\.FailingNotifier$"):
        await_notifier(callback_kwargs(notifiers, miss_context("running")))
    assert [s["text"] for s in RecordingNotifier.sent][1] == f"sync {RUN_ID}"
    assert RUN_ID in RecordingNotifier.sent[0]["text"]
    assert any("chat service is down" in r.exc_text for r in caplog.records if r.exc_text)


def test_without_notifiers_the_alert_is_logged_only(caplog: pytest.LogCaptureFixture) -> None:
    await_notifier(callback_kwargs([], miss_context("running")))
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert error.startswith(f"pgshift: DAG hybrid_aurora_migration run {RUN_ID} is still running")


@pytest.mark.parametrize(("value", "complaint"), [
    ("slack please", "is not valid JSON"),
    ('{"notifier": "x"}', "must be a JSON list"),
    ('[{"class": "test_deadline.RecordingNotifier"}]', r'must be \{"notifier"'),
    ('[{"notifier": "pgshift.nowhere.Notifier"}]', "cannot import notifier"),
    ('[{"notifier": "json.dumps"}]', "is not a BaseNotifier subclass"),
    ('[{"notifier": "test_deadline.RecordingNotifier", "kwargs": {"txt": "{{ message }}"}}]', "kwargs do not fit"),
])
def test_a_bad_deadline_notifiers_value_fails_the_parse(value: str, complaint: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__PGSHIFT__DEADLINE_NOTIFIERS", value)
    with pytest.raises(DeadlineConfigError, match=r"\[pgshift\] deadline_notifiers.*" + complaint):
        dag_arguments("hybrid_aurora_migration", timedelta(hours=24))
    assert dag_arguments("hybrid_aurora_migration", timedelta(hours=24), with_deadline=False)["deadline"] is None


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf"])
def test_a_bad_deadline_seconds_value_fails_the_parse(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__PGSHIFT__DEADLINE_SECONDS", value)
    with pytest.raises(DeadlineConfigError, match=r"\[pgshift\] deadline_seconds must be a positive number"):
        dag_arguments("citus_scale_out", timedelta(hours=12))


def test_the_built_dags_carry_the_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    from citus_scale_out import build_dag as citus_dag
    from hybrid_aurora_migration import build_dag as chain_dag

    for build, dag_id, own in ((chain_dag, "hybrid_aurora_migration", timedelta(hours=24)),
                               (citus_dag, "citus_scale_out", timedelta(hours=12))):
        (alert,) = build().deadline
        assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline" and alert.interval == own
        assert alert.callback.path == NOTIFIER_PATH
        assert alert.callback.kwargs == {"dag_id": dag_id, "allowed_seconds": own.total_seconds(), "notifiers": "[]"}

    monkeypatch.setenv("AIRFLOW__PGSHIFT__DEADLINE_NOTIFIERS", json.dumps([RECORD]))
    monkeypatch.setenv("AIRFLOW__PGSHIFT__DEADLINE_SECONDS", "90")
    for build, dag_id in ((chain_dag, "hybrid_aurora_migration"), (citus_dag, "citus_scale_out")):
        (alert,) = build().deadline
        assert alert.interval == timedelta(seconds=90) and alert.callback.path == NOTIFIER_PATH
        assert alert.callback.kwargs == {"dag_id": dag_id, "allowed_seconds": 90.0, "notifiers": json.dumps([RECORD])}
        json.dumps(alert.callback.serialize())  # stored in the serialized DAG
        hash(alert)  # Airflow hashes alerts and their callbacks' kwargs


def test_the_probe_dag_parses_and_alerts_through_the_file_notifier(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.syspath_prepend(str(PROBE))
    out = tmp_path / "alerts.log"
    notifiers = [spec("file_notifier.FileNotifier", path=str(out), text="{{ run_id }}: {{ message }}")]
    monkeypatch.setenv("AIRFLOW__PGSHIFT__DEADLINE_NOTIFIERS", json.dumps(notifiers))
    monkeypatch.setenv("AIRFLOW__PGSHIFT__DEADLINE_SECONDS", "30")
    bag = DagBag(dag_folder=str(PROBE / "pgshift_deadline_probe.py"))
    assert bag.import_errors == {}
    dag = bag.dags["pgshift_deadline_probe"]
    assert dag.schedule is None and [t.task_id for t in dag.tasks] == ["probe"] and dag.tasks[0].retries == 0
    assert {k: dag.params[k] for k in ("sleep_seconds", "fail")} == {"sleep_seconds": 0, "fail": False}
    (alert,) = dag.deadline
    assert alert.interval == timedelta(seconds=30) and alert.callback.path == NOTIFIER_PATH

    await_notifier({**alert.callback.kwargs, "context": miss_context("running")})
    await_notifier({**alert.callback.kwargs, "context": miss_context("failed", DEADLINE_TIME - timedelta(hours=1))})
    (line,) = out.read_text().splitlines()
    assert line.startswith(f"{RUN_ID}: pgshift: DAG hybrid_aurora_migration run {RUN_ID} is still running")
