"""One deferrable trigger for every pgshift wait: it runs a named read-only check until it is done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from pgshift.checks.registry import run_check


class PgShiftPollTrigger(BaseTrigger):
    """Polls ``check`` (see :mod:`pgshift.checks.registry`) every ``poll_interval`` seconds.

    Fires ``success`` when the check is done, ``failure`` at once when the check says waiting cannot
    help (fatal), and ``failure`` with the last reading when ``timeout`` seconds have passed. The
    checks use blocking drivers, so each runs in a thread, never on the triggerer's event loop.
    """

    def __init__(self, check: str, check_kwargs: dict[str, Any], poll_interval: float = 5.0,
                 timeout: float | None = None, started_at: float | None = None, timeout_hint: str = "") -> None:
        super().__init__()
        self.check = check
        self.check_kwargs = check_kwargs
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.started_at = started_at if started_at is not None else time.time()
        self.timeout_hint = timeout_hint  # what to do when the wait gives up, appended to the message

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("pgshift.triggers.poll.PgShiftPollTrigger",
                {"check": self.check, "check_kwargs": self.check_kwargs, "poll_interval": self.poll_interval,
                 "timeout": self.timeout, "started_at": self.started_at, "timeout_hint": self.timeout_hint})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        last_message = None
        while True:
            result = await asyncio.to_thread(run_check, self.check, self.check_kwargs)
            if result.message != last_message:
                (self.log.warning if result.warning else self.log.info)("%s: %s", self.check, result.message)
                last_message = result.message
            if result.done or result.fatal:
                yield TriggerEvent({"status": "success" if result.done else "failure", **result.as_event()})
                return
            if self.timeout is not None and time.time() - self.started_at > self.timeout:
                yield TriggerEvent({"status": "timeout", **result.as_event(),
                                    "message": f"{self.check} not satisfied after {self.timeout:.0f} s; "
                                               f"last reading: {result.message}. {self.timeout_hint}".strip()})
                return
            await asyncio.sleep(self.poll_interval)
