"""The synchronous guard's trigger: it watches A from the triggerer (see :mod:`pgshift.migration.sync.guard`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from pgshift.migration.sync.guard import Guard
    from pgshift.migration.sync.settings import SyncSettings

log = logging.getLogger(__name__)


async def watch(load: Callable[[], SyncSettings | None], guard: Guard, until: float, poll_interval: float,
                settings_every: float = 10.0) -> dict[str, Any]:
    """Guard A until ``until`` (epoch seconds) or until the guard acts; the settings are loaded again every
    ``settings_every`` seconds (none: the option is off, nothing is read). Returns the event's payload."""
    from pgshift.migration.sync.guard import Act

    settings: SyncSettings | None = None
    loaded_at, said = -settings_every, ""
    while time.time() < until:
        if time.monotonic() - loaded_at >= settings_every:
            try:
                settings = await asyncio.to_thread(load)
                loaded_at = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - keep the last settings and try again
                log.warning("synchronous guard: cannot read its settings: %s", exc)
        if settings is not None:
            try:
                decision = await asyncio.to_thread(guard.step, settings, load)
            except Exception as exc:  # noqa: BLE001 - A unreachable: nothing to change on it; look again
                log.warning("synchronous guard: cannot read A (%s): %s", settings.conn_a, exc)
            else:
                if decision.act != Act.NONE:
                    guard.close()
                    return {"status": decision.act.value, "reason": decision.reason, "at": time.time()}
                if decision.reason != said:
                    log.info("synchronous guard: %s", decision.reason)
                    said = decision.reason
        await asyncio.sleep(poll_interval)
    guard.close()
    return {"status": "window_over", "reason": said or "the option is off: nothing to guard", "at": time.time()}


class SyncGuardTrigger(BaseTrigger):
    """Guards A's synchronous replication until ``until`` (epoch seconds), reading its settings from the Variable of
    ``dag_id`` (:mod:`pgshift.migration.sync.settings`); fires when the guard changed A or the window is over."""

    def __init__(self, dag_id: str, until: float, poll_interval: float = 1.0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger is untyped in Airflow 3.3.2
        self.dag_id, self.until, self.poll_interval = dag_id, until, poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("pgshift.migration.triggers.sync_guard.SyncGuardTrigger",
                {"dag_id": self.dag_id, "until": self.until, "poll_interval": self.poll_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from pgshift.migration.sync import settings
        from pgshift.migration.sync.guard import Guard

        event = await watch(lambda: settings.load(self.dag_id), Guard(), self.until, self.poll_interval)
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]
