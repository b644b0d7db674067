"""Base sensor: a check object, read in place (poke) or handed to :class:`PgShiftPollTrigger` (deferred)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:  # the checks and the trigger are imported where a task runs, not when a DAG file is parsed
    from pgshift.common.checks.base import Check
    from pgshift.common.checks.result import CheckResult


class PgShiftPollSensor(BaseSensorOperator):
    """Subclasses build their :class:`~pgshift.common.checks.base.Check` from their rendered fields in ``check()``.

    Deferrable by default: the first reading is taken in the worker (a satisfied condition costs
    no deferral); then the wait moves to the triggerer, which reads the same check object.
    """

    def __init__(self, *, deferrable: bool = True, poll_interval: float | str = 5.0, **kwargs: Any) -> None:
        if isinstance(poll_interval, (int, float)):  # a templated interval is rendered at run time
            kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.poll_interval = poll_interval

    def check(self) -> Check:
        raise NotImplementedError

    def poll_seconds(self) -> float:
        """Seconds between readings (subclasses may take it from their configuration)."""
        return float(self.poll_interval)

    def wait_seconds(self) -> float:
        """How long the trigger waits before giving up (subclasses may take it from a param)."""
        return float(self.timeout)

    def timeout_hint(self) -> str:
        """What to do when the wait gives up; appended to the failure message."""
        return ""

    def read(self) -> CheckResult:
        return self.check().read()

    def poke(self, context: Context) -> bool:
        result = self.read()
        self.log.info("%s", result.message)
        if result.fatal:
            raise AirflowFailException(result.message)
        if result.done:
            context["ti"].xcom_push(key="reading", value=result.details)
        return result.done

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            self.poke_interval = self.poll_seconds()  # rendered by now, when it was templated
            return super().execute(context)
        result = self.read()
        self.log.info("%s", result.message)
        if result.fatal:
            raise AirflowFailException(result.message)
        if result.done:
            return result.details
        from pgshift.common.triggers.poll import PgShiftPollTrigger

        self.defer(
            trigger=PgShiftPollTrigger(self.check(), poll_interval=self.poll_seconds(),
                                       timeout=self.wait_seconds(), timeout_hint=self.timeout_hint()),
            method_name="execute_complete",
            # A backstop only: the trigger times out first, with the last reading in its message.
            timeout=timedelta(seconds=self.wait_seconds() + 120),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        if event.get("status") == "failure":
            raise AirflowFailException(event.get("message") or f"{self.check().name} failed")
        if event.get("status") != "success":
            raise AirflowException(event.get("message") or f"{self.check().name} timed out")
        self.log.info("%s", event["message"])
        return event.get("details")
