"""Deferrable wait for a Citus rebalance job: polls citus_rebalance_status() until a terminal state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from pgshift.citus_status import read_rebalance


class CitusRebalanceTrigger(BaseTrigger):
    """Fires ``success`` when the job is finished, ``failure`` at once when it failed or was
    cancelled (with the failing task's message), ``timeout`` with the last reading after ``timeout``
    seconds. Every change of progress is logged; the blocking driver runs in a thread."""

    def __init__(self, conn_id: str, job_id: int, poll_interval: float = 10.0, timeout: float | None = None,
                 started_at: float | None = None, connect_timeout: int = 10,
                 statement_timeout: float | None = 60) -> None:
        super().__init__()
        self.conn_id, self.job_id = conn_id, int(job_id)
        self.poll_interval, self.timeout = float(poll_interval), timeout
        self.started_at = started_at if started_at is not None else time.time()
        self.connect_timeout, self.statement_timeout = connect_timeout, statement_timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("pgshift.triggers.citus.CitusRebalanceTrigger",
                {"conn_id": self.conn_id, "job_id": self.job_id, "poll_interval": self.poll_interval,
                 "timeout": self.timeout, "started_at": self.started_at, "connect_timeout": self.connect_timeout,
                 "statement_timeout": self.statement_timeout})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        last_message = None
        while True:
            result = await asyncio.to_thread(read_rebalance, self.conn_id, self.job_id, self.connect_timeout,
                                             self.statement_timeout)
            if result.message != last_message:
                state = result.details.get("state")
                log = self.log.warning if state in ("failing", "cancelling") or "retried" in result.message \
                    else self.log.info
                log("%s", result.message)
                last_message = result.message
            if result.done or result.fatal:
                yield TriggerEvent({"status": "success" if result.done else "failure", **result.as_event()})
                return
            if self.timeout is not None and time.time() - self.started_at > self.timeout:
                yield TriggerEvent({"status": "timeout", **result.as_event(),
                                    "message": f"rebalance job {self.job_id} not finished after "
                                               f"{self.timeout / 60:.0f} min; last reading: {result.message}. "
                                               "The job keeps running in Citus: run the DAG again to attach to it, "
                                               "or stop it with SELECT citus_rebalance_stop()"})
                return
            await asyncio.sleep(self.poll_interval)
