"""The way back's actions: :class:`FallbackOperator` (back to A) and :class:`FinishOperator` (stay on C, drop the
way back). The phases are in :mod:`pgshift.migration.switchover.fallback`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.operators.configured import ConfiguredOperator
from pgshift.migration.switchover.state import FALLBACK

if TYPE_CHECKING:  # the way back's phases are imported where a task runs, not when the DAG file is parsed
    from pgshift.migration.switchover.fallback.run import FallbackPlan, FallbackRun, FallbackSettings


class FallbackOperator(ConfiguredOperator):
    """Gate on C -> A lag, fence C, drain (A confirms C's final LSN), verify C against A, sequences C -> A, drop the
    reverse subscription, commit, unfence A. Any failure after C's fence and before A's unfence lifts it and leaves A
    fenced; a fence watchdog beside it (:class:`~pgshift.migration.operators.fence_watchdog.FenceWatchdogOperator` on C)
    lifts it if the task dies.

    ``dry_run`` (the default) fences nothing: it drains to C's current position and verifies while C takes writes.
    Writes ``<report_dir>/fallback/<run_id>/report.json`` and a summary in the log.

    From the chain's configuration (``config``): ``app_roles`` (the roles to fence on C; empty: those the cutover
    fenced on A, from A's fence marker), ``fallback_publication_name`` (on C), ``fallback_subscription_name`` (on A;
    its slot on C has the same name), the gate's ``gate_*`` with ``cdc_lag_max_bytes`` as the C -> A lag limit,
    ``drain_timeout_seconds`` and ``verify_parallelism``.

    A chain of several databases (``databases``) falls back in one fence of C, every database at once
    (:mod:`pgshift.migration.switchover.fallback.several`, driven by :mod:`pgshift.migration.operators.fallback_set`).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.active_run: FallbackRun | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.migration.switchover.fallback.run import FallbackRun, new_report
        from pgshift.migration.switchover.recovery import recover_interrupted_attempt

        s = self._settings(context)
        recover_interrupted_attempt(FALLBACK, s.conn_c, s.run_id, s.fence_path)
        if self.chain.several_databases:
            from pgshift.migration.operators.fallback_set import fall_back_set

            return fall_back_set(self, context, s)
        dry_run = self.chain.dry_run
        report = new_report(context["dag"].dag_id, s, dry_run=dry_run)
        with FallbackRun.connect(s, report, self.log) as run:
            self.active_run = run
            run.take_lease()
            roles = run.check()
            plan = run.plan()
            run.gate()
            try:
                if dry_run:
                    self._rehearse(run, plan, roles)
                else:
                    self._fall_back(run, plan, roles)
            except BaseException as exc:
                raise run.abort(exc) from exc
        return run.finish()

    @staticmethod
    def _fall_back(run: FallbackRun, plan: FallbackPlan, roles: list[str]) -> None:
        """The runbook, from C's fence to "A is ready"; any failure before A's unfence lifts C's fence again."""
        fenced = run.fence(roles)
        run.drain(fenced.final_lsn)
        run.verify(plan)
        run.verify_access(roles)
        run.set_sequences(plan)
        run.drop_reverse()
        committed = run.commit()
        run.unfence_a(committed)
        run.drop_publication()
        run.ready()

    @staticmethod
    def _rehearse(run: FallbackRun, plan: FallbackPlan, roles: list[str]) -> None:
        """The dry run: no fence; drains to C's current position and verifies while C takes writes."""
        run.drain(run.c.final_wal_lsn())
        run.verify_live(plan)
        run.verify_access(roles)
        run.set_sequences(plan, dry_run=True)
        run.passed()

    def on_kill(self) -> None:
        """Killed after C's fence and before A's unfence: lift C's fence in a session of its own."""
        if self.active_run:
            self.active_run.rollback_in_new_session()

    def _settings(self, context: Context) -> FallbackSettings:
        from pgshift.common.report import report_root, safe_name
        from pgshift.migration.switchover.fallback.run import FallbackSettings

        chain = self.chain
        protected: dict[str, str] = {}
        for conn_id, what in ((chain.conn_c, "the role Airflow uses on C"),
                              (chain.conn_c_subscription, "the role A's subscription reads C with")):
            login = BaseHook.get_connection(conn_id).login
            if login:
                protected.setdefault(login, what)
        return FallbackSettings(
            run_id=context["run_id"], conn_a=chain.conn_a, conn_c=chain.conn_c,
            publication=chain.fallback_publication_name, subscription=chain.fallback_subscription_name,
            app_roles=list(chain.app_roles), protected=protected, schemas=list(chain.schemas),
            tables=list(chain.tables), max_lag_bytes=chain.cdc_lag_max_bytes, readings=chain.gate_readings,
            interval=chain.gate_interval_seconds, window=chain.gate_window_seconds,
            drain_timeout=chain.drain_timeout_seconds, parallelism=chain.verify_parallelism,
            run_dir=report_root(chain.report_dir) / "fallback" / safe_name(context["run_id"]))


class FinishOperator(ConfiguredOperator):
    """Stay on C: drop A's fallback subscription, C's fallback slot and publication, B's physical slot and the
    chain's publication on A (and the chain's slot on B if left), in every database of the chain; A stays fenced.
    With B A's synchronous standby (``synchronous_standby``), A's synchronous_standby_names gets its earlier value
    back first.
    Refused while a fallback is under way. ``dry_run`` (the default) only names what it would drop. Everything it
    needs is in ``config``."""

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.common.report import report_root, safe_name, write_json
        from pgshift.migration.switchover.fallback.finish import FinishSettings, Leftovers, finish_way_back

        chain = self.chain
        parts = tuple(Leftovers(database=part.database, conn_a=part.conn_a, conn_c=part.conn_c,
                                conn_c_subscription=part.conn_c_subscription,
                                fallback_publication=part.fallback_publication_name,
                                fallback_subscription=part.fallback_subscription_name,
                                publication=part.publication_name, slot=part.slot_name,
                                source=part.source.value.upper())
                      for part in chain.database_chains())
        from pgshift.migration.sync import settings as synchronous

        dag_id = context["dag"].dag_id
        s = FinishSettings(conn_a=chain.conn_a, conn_b=chain.conn_b, conn_c=chain.conn_c,
                           physical_slot=chain.physical_slot_name, databases=parts,
                           synchronous=synchronous.load(dag_id))
        dry_run = chain.dry_run
        retire = s.synchronous is not None and not dry_run
        if retire:  # before A is restored: the guard checks its settings before it acts (sync.guard.Guard.step)
            synchronous.delete(dag_id)
        try:
            result = finish_way_back(s, self.log, dry_run=dry_run)
        except BaseException:
            if retire and s.synchronous is not None:
                synchronous.save(dag_id, s.synchronous)  # A still names B: the guard goes on watching
            raise
        if retire and s.synchronous is not None and any(p.startswith("synchronous") for p in result.problems):
            synchronous.save(dag_id, s.synchronous)
        path: Path = report_root(chain.report_dir) / "finish" / safe_name(context["run_id"]) / "report.json"
        write_json(path, {"action": "finish", "run_id": context["run_id"], "dry_run": dry_run, **result.as_dict()})
        if result.problems:
            raise AirflowFailException("Finish left some objects behind:\n"
                                       + "\n".join(f"  - {p}" for p in result.problems))
        return {"report": str(path), **result.as_dict()}
