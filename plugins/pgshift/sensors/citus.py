"""Wait for a Citus rebalance job to finish: deferrable, fails at once on failed or cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from pgshift.checks.result import CheckResult
from pgshift.citus_status import read_rebalance
from pgshift.triggers.poll import PgShiftPollTrigger


class CitusRebalanceSensor(BaseSensorOperator):
    """Succeeds when rebalance job ``job_id`` is finished; ``job_id`` None (nothing to move) succeeds at once.

    Fails without retry when Citus reports the job failed or cancelled, quoting the failing task's
    message; logs progress (task state counts, moves under way with source, target and LSN lag) and
    the failing/cancelling states while it waits. The first reading is taken in the worker; the wait
    moves to the triggerer (:class:`PgShiftPollTrigger` running the ``citus_rebalance`` check), which
    gives up after ``timeout_minutes``.
    """

    template_fields: Sequence[str] = ("coordinator_conn_id", "job_id", "poll_interval", "timeout_minutes",
                                      "connect_timeout_seconds", "statement_timeout_seconds")

    def __init__(self, *, coordinator_conn_id: str, job_id: Any, poll_interval: Any = 10.0,
                 timeout_minutes: Any = 360, connect_timeout_seconds: Any = 10,
                 statement_timeout_seconds: Any = 60, deferrable: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("poke_interval", 10.0)
        kwargs.setdefault("timeout", 24 * 3600)
        super().__init__(**kwargs)
        self.coordinator_conn_id, self.job_id = coordinator_conn_id, job_id
        self.poll_interval, self.timeout_minutes = poll_interval, timeout_minutes
        self.connect_timeout_seconds = connect_timeout_seconds
        self.statement_timeout_seconds = statement_timeout_seconds
        self.deferrable = deferrable

    def _read(self) -> CheckResult:
        return read_rebalance(self.coordinator_conn_id, int(self.job_id), int(self.connect_timeout_seconds),
                              float(self.statement_timeout_seconds))

    def poke(self, context: Context) -> bool:
        result = self._read()
        self.log.info("%s", result.message)
        if result.fatal:
            raise AirflowFailException(result.message)
        return result.done

    def execute(self, context: Context) -> Any:
        if self.job_id is None:
            self.log.info("No rebalance job to wait for: Citus had nothing to move")
            return {"job_id": None, "state": None}
        if not self.deferrable:
            self.poke_interval = float(self.poll_interval)
            super().execute(context)
            return self._read().details
        result = self._read()
        self.log.info("%s", result.message)
        if result.fatal:
            raise AirflowFailException(result.message)
        if result.done:
            return result.details
        timeout = float(self.timeout_minutes) * 60
        self.defer(
            trigger=PgShiftPollTrigger(
                "citus_rebalance",
                {"conn_id": self.coordinator_conn_id, "job_id": int(self.job_id),
                 "connect_timeout": int(self.connect_timeout_seconds),
                 "statement_timeout": float(self.statement_timeout_seconds)},
                float(self.poll_interval), timeout=timeout,
                timeout_hint=f"Rebalance job {self.job_id} keeps running in Citus: run the DAG again to attach to "
                             "it, or stop it with SELECT citus_rebalance_stop()"),
            method_name="execute_complete",
            # A backstop only: the trigger times out first, with the last reading in its message.
            timeout=timedelta(seconds=timeout + 300),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        if event.get("status") == "failure":
            raise AirflowFailException(event.get("message") or f"rebalance job {self.job_id} failed")
        if event.get("status") != "success":
            raise AirflowException(event.get("message") or f"rebalance job {self.job_id}: no terminal state")
        self.log.info("%s", event["message"])
        return event.get("details")
