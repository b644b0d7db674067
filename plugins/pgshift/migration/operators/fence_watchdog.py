"""The fence watchdog: a deferred task beside a switchover (the cutover, which fences A; the fallback, which fences C)
that lifts the fence if the switchover dies fenced.

Why it cannot unfence a cutover that is still alive, and why it never unfences one past its point of no
return: see :mod:`pgshift.migration.switchover.lease`. It waits in the triggerer, so a lost worker does not take it
along.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from pgshift.migration.operators.configured import ConfiguredOperator
from pgshift.migration.switchover.state import CUTOVER, FALLBACK

DIRECTIONS = {d.action: d for d in (CUTOVER, FALLBACK)}
# What the run's failure tells people to do once the watchdog lifted a dead switchover's fence.
UNFENCED_NEXT = {
    "cutover": "C was not finalized; the chain A -> B -> C is intact. Trigger a new cutover when ready.",
    "fallback": "A stays fenced and C is the primary again (never both writable); the way back is as the dead "
                "attempt left it: if its subscription on A was dropped, re-arm it before a new fallback. Trigger a new "
                "fallback when ready.",
}


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds") if ts else "?"


class FenceWatchdogOperator(ConfiguredOperator):
    """Watches switchover ``run_id``'s lease on the server it fences until it ends; fails the run if it died fenced.

    The connection is the switchover's own, from the chain's configuration (``config``): ``conn_a`` for the cutover
    (a superuser: it may have to give the roles LOGIN back), ``conn_c`` for the fallback (pgshift's role on C). The
    lease counts only when held by that connection's role (:mod:`pgshift.migration.switchover.lease`). A ``dry_run``
    never fences: nothing to watch.

    :param action: ``cutover`` (watches A) or ``fallback`` (watches C).
    :param poll_interval: seconds between looks (the target is the fenced side writable within 10 s of the death).
    :param start_timeout: how long to wait for the switchover to take its lease before concluding it never ran.
    :param notifiers: JSON of ``[pgshift] deadline_notifiers``: they get the alert when the watchdog acts.
    """

    def __init__(self, *, action: str = "cutover", poll_interval: float = 1.0, start_timeout: float = 300.0,
                 notifiers: str = "[]", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if action not in DIRECTIONS:
            raise ValueError(f"action must be one of {', '.join(DIRECTIONS)}, got {action!r}")
        self.action = action
        self.poll_interval, self.start_timeout, self.notifiers = poll_interval, start_timeout, notifiers

    def execute(self, context: Context) -> None:
        d = DIRECTIONS[self.action]
        if self.chain.dry_run:
            raise AirflowSkipException(f"dry run: {d.source} is never fenced, nothing to watch")
        conn = self._conn()
        ti = context.get("ti")
        if ti is not None and int(getattr(ti, "try_number", 1) or 1) > 1:
            # A new trigger would not know whether the switchover was ever alive: judge the source as it is now.
            from pgshift.migration.switchover.watchdog import ABSENT, look

            verdict, _ = look(conn, context["run_id"])
            if verdict == ABSENT:
                raise AirflowFailException(
                    f"An earlier try of the fence watchdog failed (see its log); {d.source} carries no fence of run "
                    f"{context['run_id']} and no {d.action} holds the lease: nothing is left to watch")
        from pgshift.migration.triggers.fence_watchdog import FenceWatchdogTrigger

        self.defer(trigger=FenceWatchdogTrigger(conn, context["run_id"], self.poll_interval, self.start_timeout),
                   method_name="execute_complete")

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        from pgshift.migration.switchover.recovery import AFTER_COMMIT

        d = DIRECTIONS[self.action]
        status, run_id = event.get("status"), context["run_id"]
        roles = ", ".join(event.get("roles") or []) or "none"
        # finished and not_fenced: the trigger ends the task itself now; a trigger an earlier version deferred with
        # may still resume here with them.
        if status == "finished":
            self.log.info("The %s reached ready at %s: %s stays fenced on purpose; nothing to do", d.action,
                          _iso(event.get("changed_at")), d.source)
            return
        if status == "not_fenced":
            self.log.info("The %s ended and %s is not fenced (it never fenced, or lifted its own fence)%s: nothing to "
                          "do", d.action, d.source, "" if event.get("seen_alive") else "; it never took its lease")
            return
        if status == "unfenced":
            message = (f"pgshift: {d.action} run {run_id} died after fencing {d.source} at "
                       f"{_iso(event.get('fenced_at'))}; the fence watchdog unfenced {d.source} at "
                       f"{_iso(event.get('unfenced_at'))} (roles {roles} can log in again, the database's read-only "
                       f"default is restored). {UNFENCED_NEXT[d.action]}")
        else:
            message = (f"pgshift: {d.action} run {run_id} died after its point of no return (fenced {d.source} at "
                       f"{_iso(event.get('fenced_at'))}, committed at {_iso(event.get('changed_at'))}): "
                       f"{d.source} stays fenced on purpose. {AFTER_COMMIT[d.action]}")
        self.log.error("%s", message)
        self._notify(context, message)
        raise AirflowFailException(message)

    def _conn(self) -> str:
        return self.chain.conn_a if self.action == "cutover" else self.chain.conn_c

    def _notify(self, context: Context, message: str) -> None:
        from pgshift.common.notifications.deadline import forward

        subject = f"pgshift: {self.action} {context['run_id']} died fenced"
        extra = {"message": message, "subject": subject, "run_id": context["run_id"],
                 "dag_id": context["dag"].dag_id}
        try:
            asyncio.run(forward(self.notifiers, {**context, **extra}, "fence"))
        except Exception:  # the task still fails with the message; the log has the notifier error
            self.log.exception("Could not notify about the fence")
