"""B as A's synchronous standby: the setup's task (:class:`SynchronousStandbyOperator`) and the guard's
(:class:`SyncGuardOperator`, in DAG ``hybrid_aurora_migration_sync_guard``). See :mod:`pgshift.migration.sync`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.sdk import BaseOperator, Context

from pgshift.migration.operators.configured import ConfiguredOperator


class SynchronousStandbyOperator(ConfiguredOperator):
    """With ``synchronous_standby``: A's ``synchronous_standby_names`` names B (:func:`pgshift.migration.sync.standby
    .enable`), refused before anything changes when conn_a's role may not. Without it, A is not touched, unless an
    earlier setup made B synchronous: then A gets its earlier value back. Never skipped (the setup goes on)."""

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.migration.sync import settings as stored
        from pgshift.migration.sync.standby import enable, restore

        dag_id = context["dag"].dag_id
        earlier = stored.load(dag_id)
        if not self.chain.synchronous_standby:
            if earlier is None:
                self.log.info("synchronous_standby is off: A is not touched")
                return {"synchronous": False}
            stored.delete(dag_id)  # first: the guard checks its settings before it acts (guard.Guard.step)
            try:
                was = restore(earlier)
            except BaseException:
                stored.save(dag_id, earlier)  # A still names B: the guard goes on watching
                raise
            self.log.warning("synchronous_standby is off now: A's synchronous_standby_names %r -> %r (its value "
                             "before an earlier setup made B synchronous)", was, earlier.previous)
            return {"synchronous": False, "restored": earlier.previous}
        made = enable(self.chain, earlier, context["run_id"], self.log, lambda s: stored.save(dag_id, s))
        return {"synchronous": True, "standby": made.standby, "names": made.names, "previous": made.previous}


class SyncGuardOperator(BaseOperator):
    """Defers at once to :class:`~pgshift.migration.triggers.sync_guard.SyncGuardTrigger` for ``window_seconds``;
    when it fires, logs why, tells the notifiers if the guard changed A, and ends (the continuous DAG starts the
    next run).

    :param dag_id_guarded: the migration DAG whose Variable says what to guard
    :param notifiers: JSON of ``[pgshift] deadline_notifiers``
    """

    def __init__(self, *, dag_id_guarded: str, window_seconds: float = 1800, poll_interval: float = 1.0,
                 notifiers: str = "[]", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dag_id_guarded, self.window_seconds = dag_id_guarded, window_seconds
        self.poll_interval, self.notifiers = poll_interval, notifiers

    def execute(self, context: Context) -> None:
        from pgshift.migration.triggers.sync_guard import SyncGuardTrigger

        trigger = SyncGuardTrigger(self.dag_id_guarded, time.time() + self.window_seconds, self.poll_interval)
        self.defer(trigger=trigger, method_name="execute_complete")

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        status, reason = event.get("status"), str(event.get("reason"))
        if status == "window_over":
            self.log.info("Window over; the next run takes over. Last reading: %s", reason)
            return event
        self.log.warning("Synchronous guard %s: %s", status, reason)
        from pgshift.common.notifications.deadline import forward

        subject = ("pgshift: A is asynchronous now (B gone)" if status == "release"
                   else "pgshift: A is synchronous again (B back)")
        extra = {"message": reason, "subject": subject, "run_id": context["run_id"], "dag_id": context["dag"].dag_id}
        try:
            asyncio.run(forward(self.notifiers, {**context, **extra}, "synchronous guard"))
        except Exception:  # the log has the reason; a notifier's failure must not stop the guard's next run
            self.log.exception("Could not notify about the synchronous guard")
        return event
