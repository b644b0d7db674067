"""One deferrable trigger for every pgshift wait: it reads a check until the check is done.

The trigger carries the check itself (a :class:`~pgshift.common.checks.base.Check`), serialized as its classpath
and fields; the triggerer rebuilds it from them (:meth:`Check.deserialize`).

Triggers serialized by an older pgshift (``check="wal_lag", check_kwargs={...}``): the triggerer of a new
version receives those only when pgshift was upgraded while a task was deferred. Such a trigger runs as it
was written: its check is looked up by name (:func:`pgshift.common.checks.registry.run_check`, the names are the
check classes' ``name``) at every reading, and it serializes back unchanged, so that its task resumes and
ends as it would have before the upgrade. Every trigger a sensor creates now carries a check object.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from pgshift.common.checks.base import Check
from pgshift.common.checks.registry import run_check
from pgshift.common.checks.result import CheckResult


class PgShiftPollTrigger(BaseTrigger):
    """Reads ``check`` every ``poll_interval`` seconds.

    Fires ``success`` when the check is done, ``failure`` at once when the check says waiting cannot
    help (fatal), and ``failure`` with the last reading when ``timeout`` seconds have passed. The
    checks use blocking drivers, so each reading runs in a thread, never on the triggerer's event loop.

    ``check`` is a check object, its serialized form (as the triggerer passes it back), or, from a trigger
    serialized before checks were objects, a check's name with its arguments in ``check_kwargs``.
    """

    def __init__(self, check: Check | Mapping[str, Any] | str, check_kwargs: dict[str, Any] | None = None,
                 poll_interval: float = 5.0, timeout: float | None = None, started_at: float | None = None,
                 timeout_hint: str = "") -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger is untyped in Airflow 3.3.2
        self.check: Check | str = Check.deserialize(check) if isinstance(check, Mapping) else check
        self.check_kwargs = check_kwargs if isinstance(check, str) else None  # an older trigger's only
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.started_at = started_at if started_at is not None else time.time()
        self.timeout_hint = timeout_hint  # what to do when the wait gives up, appended to the message

    @property
    def check_name(self) -> str:
        return self.check if isinstance(self.check, str) else self.check.name

    def serialize(self) -> tuple[str, dict[str, Any]]:
        if isinstance(self.check, str):
            check: dict[str, Any] = {"check": self.check, "check_kwargs": self.check_kwargs}
        else:
            check = {"check": self.check.serialize()}
        return ("pgshift.common.triggers.poll.PgShiftPollTrigger",
                {**check, "poll_interval": self.poll_interval, "timeout": self.timeout,
                 "started_at": self.started_at, "timeout_hint": self.timeout_hint})

    def _reader(self) -> Callable[[], CheckResult]:
        if isinstance(self.check, str):
            return functools.partial(run_check, self.check, self.check_kwargs or {})
        return self.check.read

    async def run(self) -> AsyncIterator[TriggerEvent]:
        read, name = self._reader(), self.check_name
        last_message = None
        while True:
            result = await asyncio.to_thread(read)
            if result.message != last_message:
                (self.log.warning if result.warning else self.log.info)("%s: %s", name, result.message)
                last_message = result.message
            if result.done or result.fatal:
                yield TriggerEvent(  # type: ignore[no-untyped-call]
                    {"status": "success" if result.done else "failure", **result.as_event()})
                return
            if self.timeout is not None and time.time() - self.started_at > self.timeout:
                yield TriggerEvent({  # type: ignore[no-untyped-call]
                    "status": "timeout", **result.as_event(),
                    "message": f"{name} not satisfied after {self.timeout:.0f} s; "
                               f"last reading: {result.message}. {self.timeout_hint}".strip()})
                return
            await asyncio.sleep(self.poll_interval)
