"""The fence watchdog's trigger: it watches a cutover's lease on A from the triggerer, not from a worker."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

log = logging.getLogger(__name__)


class FenceWatchdogTrigger(BaseTrigger):
    """Looks at A every ``poll_interval`` seconds (:func:`pgshift.migration.switchover.watchdog.look`) until cutover
    ``run_id`` ends.

    Fires ``finished`` when the cutover reached ready or lifted its own fence, ``not_fenced`` when it ended
    without fencing A (its lease was seen, then freed with no marker of this run; or no cutover showed up
    within ``start_timeout`` seconds), ``unfenced`` when it died fenced and the watchdog lifted the fence,
    ``died_committed`` when it died after its point of no return (A stays fenced). A failed look (A
    unreachable) is logged and tried again: nobody can lift a fence on an A nobody reaches.
    """

    def __init__(self, conn_a: str, run_id: str, poll_interval: float = 1.0, start_timeout: float = 600.0,
                 started_at: float | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger is untyped in Airflow 3.3.2
        self.conn_a, self.run_id = conn_a, run_id
        self.poll_interval, self.start_timeout = poll_interval, start_timeout
        self.started_at = started_at if started_at is not None else time.time()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("pgshift.migration.triggers.fence_watchdog.FenceWatchdogTrigger",
                {"conn_a": self.conn_a, "run_id": self.run_id, "poll_interval": self.poll_interval,
                 "start_timeout": self.start_timeout, "started_at": self.started_at})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from pgshift.migration.switchover.watchdog import ABSENT, ALIVE, look

        seen_alive = False
        while True:
            try:
                verdict, facts = await asyncio.to_thread(look, self.conn_a, self.run_id)
            except Exception as exc:  # noqa: BLE001 - keep watching; the next look may reach A
                log.warning("fence watchdog for %s: cannot look at A: %s", self.run_id, exc)
                verdict, facts = ALIVE if seen_alive else ABSENT, {}
            if verdict == ALIVE:
                seen_alive = True
            elif verdict == ABSENT:
                if seen_alive or time.time() - self.started_at > self.start_timeout:
                    yield TriggerEvent({"status": "not_fenced", "seen_alive": seen_alive})  # type: ignore[no-untyped-call]
                    return
            else:
                yield TriggerEvent({"status": verdict, **facts})  # type: ignore[no-untyped-call]
                return
            await asyncio.sleep(self.poll_interval)
