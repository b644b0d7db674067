"""The fence watchdog: a deferred task beside the cutover that lifts A's fence if the cutover dies fenced.

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
from pgshift.migration.triggers.fence_watchdog import FenceWatchdogTrigger


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds") if ts else "?"


class FenceWatchdogOperator(ConfiguredOperator):
    """Watches cutover ``run_id``'s lease on A (the chain's ``conn_a``: a superuser, it may have to give the roles
    LOGIN back) until the cutover ends; fails the run if it died fenced. A ``dry_run`` never fences A: nothing to
    watch.

    :param poll_interval: seconds between looks at A (the target is A writable within 10 s of the death).
    :param start_timeout: how long to wait for the cutover to take its lease before concluding it never ran.
    :param notifiers: JSON of ``[pgshift] deadline_notifiers``: they get the alert when the watchdog acts.
    """

    def __init__(self, *, poll_interval: float = 1.0, start_timeout: float = 300.0, notifiers: str = "[]",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poll_interval, self.start_timeout, self.notifiers = poll_interval, start_timeout, notifiers

    def execute(self, context: Context) -> None:
        if self.chain.dry_run:
            raise AirflowSkipException("dry run: A is never fenced, nothing to watch")
        ti = context.get("ti")
        if ti is not None and int(getattr(ti, "try_number", 1) or 1) > 1:
            # A new trigger would not know whether the cutover was ever alive: judge A as it is now.
            from pgshift.migration.switchover.watchdog import ABSENT, look

            verdict, _ = look(self.chain.conn_a, context["run_id"])
            if verdict == ABSENT:
                raise AirflowFailException(
                    f"An earlier try of the fence watchdog failed (see its log); A carries no fence of run "
                    f"{context['run_id']} and no cutover holds the lease: nothing is left to watch")
        self.defer(trigger=FenceWatchdogTrigger(self.chain.conn_a, context["run_id"], self.poll_interval,
                                                self.start_timeout),
                   method_name="execute_complete")

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        status, run_id = event.get("status"), context["run_id"]
        roles = ", ".join(event.get("roles") or []) or "none"
        if status == "finished":
            self.log.info("The cutover reached ready at %s: A stays fenced on purpose; nothing to do",
                          _iso(event.get("changed_at")))
            return
        if status == "not_fenced":
            self.log.info("The cutover ended and A is not fenced (it never fenced, or lifted its own fence)%s: "
                          "nothing to do", "" if event.get("seen_alive") else "; it never took its lease")
            return
        if status == "unfenced":
            message = (f"pgshift: cutover run {run_id} died after fencing A at {_iso(event.get('fenced_at'))}; "
                       f"the fence watchdog unfenced A at {_iso(event.get('unfenced_at'))} (roles {roles} can log "
                       "in again, the database's read-only default is restored). C was not finalized; the "
                       "chain A -> B -> C is intact. Trigger a new cutover when ready.")
        else:
            message = (f"pgshift: cutover run {run_id} died after its point of no return (fenced A at "
                       f"{_iso(event.get('fenced_at'))}, committed at {_iso(event.get('changed_at'))}): A stays "
                       "fenced on purpose. C holds A's final data; finish the cutover by hand (native: DROP "
                       "SUBSCRIPTION on C; dms: stop the task) or lift the fence; see the README.")
        self.log.error("%s", message)
        self._notify(context, message)
        raise AirflowFailException(message)

    def _notify(self, context: Context, message: str) -> None:
        from pgshift.common.notifications.deadline import forward

        subject = f"pgshift: cutover {context['run_id']} died fenced"
        extra = {"message": message, "subject": subject, "run_id": context["run_id"],
                 "dag_id": context["dag"].dag_id}
        try:
            asyncio.run(forward(self.notifiers, {**context, **extra}, "fence"))
        except Exception:  # the task still fails with the message; the log has the notifier error
            self.log.exception("Could not notify about the fence")
