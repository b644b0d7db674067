"""Wait for a Citus rebalance job to finish: deferrable, fails at once on failed or cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from pgshift.citus.clone import CloneLagCheck, clone_lag_check
from pgshift.citus.status import RebalanceCheck
from pgshift.common.sensors.poll import PgShiftPollSensor


class CitusRebalanceSensor(PgShiftPollSensor):
    """Succeeds when rebalance job ``job_id`` is finished; ``job_id`` None (nothing to move) succeeds at once.

    Fails without retry when Citus reports the job failed or cancelled, quoting the failing task's
    message; logs progress (bytes moved of planned, rate and ETA; task state counts, moves under way with
    source, target and LSN lag) and the failing/cancelling states while it waits. The last reading,
    with its ``progress`` figures (:class:`pgshift.citus.progress.RebalanceProgress`), is the XCom.
    The first reading is taken in the worker; the wait moves to the triggerer (:class:`PgShiftPollTrigger`
    reading a :class:`RebalanceCheck`), which gives up after ``timeout_minutes``.
    """

    template_fields: Sequence[str] = ("coordinator_conn_id", "job_id", "poll_interval", "timeout_minutes",
                                      "connect_timeout_seconds", "statement_timeout_seconds")

    def __init__(self, *, coordinator_conn_id: str, job_id: Any, poll_interval: Any = 10.0,
                 timeout_minutes: Any = 360, connect_timeout_seconds: Any = 10,
                 statement_timeout_seconds: Any = 60, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", 24 * 3600)
        super().__init__(poll_interval=poll_interval, **kwargs)
        self.coordinator_conn_id, self.job_id, self.timeout_minutes = coordinator_conn_id, job_id, timeout_minutes
        self.connect_timeout_seconds = connect_timeout_seconds
        self.statement_timeout_seconds = statement_timeout_seconds

    def check(self) -> RebalanceCheck:
        return RebalanceCheck(conn_id=self.coordinator_conn_id, job_id=int(self.job_id),
                              connect_timeout=int(self.connect_timeout_seconds),
                              statement_timeout=float(self.statement_timeout_seconds))

    def wait_seconds(self) -> float:
        return float(self.timeout_minutes) * 60

    def timeout_hint(self) -> str:
        return (f"Rebalance job {self.job_id} keeps running in Citus: run the DAG again to attach to it, "
                "or stop it with SELECT citus_rebalance_stop()")

    def execute(self, context: Context) -> Any:
        if self.job_id is None:
            self.log.info("No rebalance job to wait for: Citus had nothing to move")
            return {"job_id": None, "state": None}
        return super().execute(context)


class CitusCloneLagSensor(PgShiftPollSensor):
    """Each clone of the clone method streams from its source worker, replay lag under ``max_bytes`` (the
    A -> B wait's verdict, :func:`pgshift.common.checks.lag.evaluate_wal_lag`, read on the source's slot and the
    clone's WAL receiver). Deferrable; no clone (method rebalance) succeeds at once. The lag that matters is
    what citus_promote_clone_and_rebalance waits for while it blocks writes."""

    template_fields: Sequence[str] = ("coordinator_conn_id", "clones", "max_bytes", "max_seconds", "poll_interval",
                                      "connect_timeout_seconds")

    def __init__(self, *, coordinator_conn_id: str, clones: Any, max_bytes: Any = 16 * 2**20,
                 max_seconds: Any = 30.0, connect_timeout_seconds: Any = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.coordinator_conn_id, self.clones = coordinator_conn_id, clones
        self.max_bytes, self.max_seconds, self.connect_timeout_seconds = max_bytes, max_seconds, connect_timeout_seconds

    def check(self) -> CloneLagCheck:
        return clone_lag_check(self.coordinator_conn_id, list(self.clones or []), int(self.max_bytes),
                               float(self.max_seconds), int(self.connect_timeout_seconds))
