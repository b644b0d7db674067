"""The DAGs' DeadlineAlert callback: a ``BaseNotifier`` the triggerer awaits when a run's deadline passes.

``AsyncCallback(DeadlineMissedNotifier, kwargs=...)`` makes the triggerer run
``await DeadlineMissedNotifier(**kwargs, context=context)``, where ``context`` is what
``Deadline.handle_miss`` snapshots when the scheduler notices the miss (Airflow 3.3.2)::

    {"dag_run": DAGRunResponse.model_dump(mode="json"),   # run id under "dag_run_id"; "state", "end_date"
     "deadline": {"id": "<uuid>", "deadline_time": <datetime>}}

Airflow drops a run's deadline only when the run *succeeds* before it, so a run that failed (or
ended in the seconds before the scheduler looked) still gets here: only a run still queued or
running is an overrun. That one is logged at error level and forwarded to the notifiers configured
in ``[pgshift] deadline_notifiers`` (see :func:`parse_notifier_specs`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from datetime import datetime, timedelta
from typing import Any, TypedDict

from airflow.sdk import BaseNotifier
from airflow.sdk.module_loading import import_string  # type: ignore[attr-defined]  # re-exported, no __all__

NOTIFIERS_KEY = "[pgshift] deadline_notifiers"
DEADLINE_SECONDS_KEY = "[pgshift] deadline_seconds"
ENDED_STATES = frozenset({"success", "failed"})

# stdlib logging, not BaseNotifier.log: these lines reached the triggerer log on a real deployment.
log = logging.getLogger(__name__)


class DeadlineConfigError(ValueError):
    """A ``[pgshift]`` deadline setting that cannot be used; raised at DAG parse time."""


class DeadlineNotificationError(RuntimeError):
    """One or more forwarded notifiers failed (the others were still tried)."""


class NotifierSpec(TypedDict):
    notifier: str
    kwargs: dict[str, Any]


def parse_notifier_specs(raw: str) -> list[NotifierSpec]:
    """Validate a ``[pgshift] deadline_notifiers`` value: a JSON list of
    ``{"notifier": "<dotted path of a BaseNotifier subclass>", "kwargs": {...}}``.

    Each class is imported and its kwargs bound to its signature, so a typo fails the DAG's parse,
    where someone sees it, instead of the alert a day later, where nobody does.
    """
    try:
        items = json.loads(raw or "[]")
    except json.JSONDecodeError as exc:
        raise DeadlineConfigError(f"{NOTIFIERS_KEY} is not valid JSON ({exc}): {raw!r}") from exc
    if not isinstance(items, list):
        raise DeadlineConfigError(f"{NOTIFIERS_KEY} must be a JSON list, got {raw!r}")
    specs: list[NotifierSpec] = []
    for n, item in enumerate(items):
        where = f"{NOTIFIERS_KEY}[{n}]"
        if not (isinstance(item, dict) and isinstance(item.get("notifier"), str)
                and set(item) <= {"notifier", "kwargs"}):
            raise DeadlineConfigError(f'{where} must be {{"notifier": "<dotted path>", "kwargs": {{...}}}}, '
                                      f"got {item!r}")
        kwargs = item.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise DeadlineConfigError(f"{where}.kwargs must be a JSON object, got {kwargs!r}")
        cls = notifier_class(item["notifier"], where)
        try:
            inspect.signature(cls).bind(**kwargs)
        except TypeError as exc:
            raise DeadlineConfigError(f"{where}: kwargs do not fit {item['notifier']}: {exc}") from exc
        specs.append({"notifier": item["notifier"], "kwargs": kwargs})
    return specs


def notifier_class(path: str, where: str = NOTIFIERS_KEY) -> type[BaseNotifier]:
    """Import ``path`` and check it is a BaseNotifier subclass that can send (async or sync)."""
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise DeadlineConfigError(f"{where}: cannot import notifier {path!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseNotifier)):
        raise DeadlineConfigError(f"{where}: {path!r} is not a BaseNotifier subclass")
    if not (_overrides(cls, "async_notify") or _overrides(cls, "notify")):
        raise DeadlineConfigError(f"{where}: {path!r} implements neither async_notify nor notify")
    return cls


def _overrides(cls: type[BaseNotifier], method: str) -> bool:
    return getattr(cls, method) is not getattr(BaseNotifier, method)


def _as_datetime(value: object) -> datetime | None:
    """The context's dates: ISO strings from ``model_dump(mode="json")``, datetimes from serde."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


def _allowed_text(seconds: float | None) -> str:
    return str(timedelta(seconds=seconds)) if seconds is not None else "?"


class DeadlineMissedNotifier(BaseNotifier):
    """Alerts on a run still queued or running at its deadline; stays quiet for a run that ended.

    :param dag_id: the DAG (the context's own ``dag_id`` wins when present).
    :param allowed_seconds: the deadline's interval after the run was queued, for the message.
    :param notifiers: JSON text of a validated ``[pgshift] deadline_notifiers`` list. Text rather than
        a list because Airflow hashes a callback's kwargs and a nested list is unhashable.

    Forwarded notifiers are rendered with the Airflow context plus ``message``, ``subject``,
    ``run_id``, ``dag_id``, ``state``, ``deadline_time`` and ``allowed`` (so ``text="{{ message }}"``
    works), then called: ``async_notify`` is awaited, a sync-only ``notify`` runs in a thread so the
    triggerer's event loop keeps going. Failure policy: every notifier is tried; each failure is logged with
    its traceback, then :class:`DeadlineNotificationError` is raised naming the failed ones, so
    Airflow marks the callback failed (a Slack outage must not make an overrun look handled).
    """

    def __init__(self, *, dag_id: str, allowed_seconds: float | None = None, notifiers: str = "[]",
                 context: dict[str, Any] | None = None) -> None:
        super().__init__(context=context)  # type: ignore[arg-type]  # a plain dict, as the triggerer passes it
        self.dag_id = dag_id
        self.allowed_seconds = allowed_seconds
        self.notifiers = notifiers

    async def async_notify(self, context: dict[str, Any]) -> None:  # type: ignore[override]
        dag_run: dict[str, Any] = context.get("dag_run") or {}
        deadline: dict[str, Any] = context.get("deadline") or {}
        dag_id = dag_run.get("dag_id") or self.dag_id
        run_id = dag_run.get("dag_run_id") or dag_run.get("run_id") or "?"
        state = dag_run.get("state") or "unknown"
        deadline_time = _as_datetime(deadline.get("deadline_time"))
        end_date = _as_datetime(dag_run.get("end_date"))
        allowed = _allowed_text(self.allowed_seconds)
        run = f"{dag_id} run {run_id}"

        ended_in_time = end_date is not None and deadline_time is not None and end_date <= deadline_time
        if state in ENDED_STATES or ended_in_time:
            # Airflow keeps a failed run's deadline (it prunes only on success): not an overrun.
            if ended_in_time:
                how = "ended failed before its deadline" if state == "failed" else "ended in time"
            elif end_date is not None:  # in the moments between the deadline and the scheduler's look
                how = f"ended {state} at {end_date.isoformat()}, just after its deadline"
            else:
                how = f"ended {state}"
            log.info("pgshift: %s %s (state %s, deadline %s, %s allowed): no alert",
                     run, how, state, deadline_time, allowed)
            return

        # Unknown state (no dag_run in the context) alerts too: a false alarm beats a silent overrun.
        subject = f"pgshift: {run} missed its deadline"
        message = (f"pgshift: DAG {dag_id} run {run_id} is still {state} at its deadline "
                   f"{deadline_time.isoformat() if deadline_time else '?'} ({allowed} allowed after it was "
                   f"queued at {dag_run.get('queued_at') or '?'})")
        log.error("%s", message)
        extra = {"message": message, "subject": subject, "run_id": run_id, "dag_id": dag_id, "state": state,
                 "deadline_time": deadline_time, "allowed": allowed}
        await self._forward({**context, **extra})

    async def _forward(self, context: dict[str, Any]) -> None:
        await forward(self.notifiers, context, "deadline")


async def forward(notifiers: str, context: dict[str, Any], what: str = "deadline") -> None:
    """Render and call every notifier of ``notifiers`` (JSON of validated specs) with ``context``.

    Every notifier is tried; the failed ones are logged with their traceback and then named in one
    :class:`DeadlineNotificationError`. Also used for the fence watchdog's alerts (``what="fence"``).
    """
    specs: list[NotifierSpec] = json.loads(notifiers or "[]")
    failed: list[str] = []
    for spec in specs:
        try:
            notifier = notifier_class(spec["notifier"])(**spec.get("kwargs", {}))
            # Rendered here rather than by ``await notifier``: BaseNotifier first merges the notifier's own
            # template fields into the context, so an SmtpNotifier's ``subject="{{ subject }}"`` would
            # shadow our ``subject`` and render as itself. A copy each, as rendering may add to it.
            own_context = dict(context)
            notifier.render_template_fields(own_context)  # type: ignore[arg-type]
            if _overrides(type(notifier), "async_notify"):
                await notifier.async_notify(own_context)  # type: ignore[arg-type]
            else:
                await asyncio.to_thread(notifier.notify, own_context)  # type: ignore[arg-type]
        except Exception:
            log.exception("pgshift: %s notifier %s failed", what, spec["notifier"])
            failed.append(spec["notifier"])
    if failed:
        raise DeadlineNotificationError(f"{what} notifiers failed: {', '.join(failed)}")
