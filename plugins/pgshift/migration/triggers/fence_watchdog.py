"""The fence watchdog's trigger: it watches a switchover's lease on its source (A for the cutover, C for the fallback)
from the triggerer, not from a worker."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

log = logging.getLogger(__name__)


class FenceWatchdogTrigger(BaseTrigger):
    """Looks at the source every ``poll_interval`` seconds (:func:`pgshift.migration.switchover.watchdog.look`) until
    switchover ``run_id``
    ends. ``conn_a`` is the connection to the fenced server: A for the cutover, C for the fallback (the name stays for
    the triggers an earlier version serialized).

    Ends the task when the cutover reached ready (``finished``) or ended without fencing A (``not_fenced``: its
    lease was seen, then freed with no marker of this run; or no cutover showed up within ``start_timeout``
    seconds); fires ``unfenced`` when it died fenced and the watchdog lifted the fence, ``died_committed`` when it
    died after its point of no return (A stays fenced). A failed look (A
    unreachable) is logged and tried again: nobody can lift a fence on an A nobody reaches.

    ``finished`` and ``not_fenced`` leave nothing to do: the task ends here, in the triggerer (a
    :class:`TaskSuccessEvent`, the verdict in the trigger's log), instead of resuming on a worker. A resume moments
    after the deferral races the executor's late report of the deferring process's exit (same try, same key):
    Airflow 3.3.2's scheduler then takes the running resume for a task killed externally and puts it up for retry
    (apache/airflow#72716; seen on the deployment in bench/a_lost.py: the cutover's run held a minute, "Task
    Instance not found" in the watchdog's log). The cutover usually reaches ready seconds after the watchdog
    defers, so under load that race was the rule.
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
        from pgshift.migration.switchover.watchdog import ABSENT, ALIVE, FINISHED, look

        seen_alive = False
        while True:
            try:
                verdict, facts = await asyncio.to_thread(look, self.conn_a, self.run_id)
            except Exception as exc:  # noqa: BLE001 - keep watching; the next look may reach it
                log.warning("fence watchdog for %s: cannot look at %s: %s", self.run_id, self.conn_a, exc)
                verdict, facts = ALIVE if seen_alive else ABSENT, {}
            if verdict == ALIVE:
                seen_alive = True
            elif verdict == ABSENT:
                if seen_alive or time.time() - self.started_at > self.start_timeout:
                    log.info("Switchover run %s ended and its source is not fenced (it never fenced, or lifted its "
                             "own fence)%s: nothing to do", self.run_id, "" if seen_alive else "; it never took its "
                             "lease")
                    yield TaskSuccessEvent()
                    return
            elif verdict == FINISHED:
                log.info("Switchover run %s reached ready at %s: its source stays fenced on purpose; nothing to do",
                         self.run_id, datetime.fromtimestamp(facts.get("changed_at") or 0, tz=UTC).isoformat())
                yield TaskSuccessEvent()
                return
            else:
                yield TriggerEvent({"status": verdict, **facts})  # type: ignore[no-untyped-call]
                return
            await asyncio.sleep(self.poll_interval)
