"""The way back's actions: :class:`FallbackOperator` (back to A) and :class:`FinishOperator` (stay on C, drop the
way back). The phases are in :mod:`pgshift.migration.switchover.fallback`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.switchover.state import FALLBACK

if TYPE_CHECKING:  # the way back's phases are imported where a task runs, not when the DAG file is parsed
    from pgshift.migration.limits import ChainLimits
    from pgshift.migration.switchover.fallback.run import FallbackPlan, FallbackRun, FallbackSettings


class FallbackOperator(BaseOperator):
    """Gate on C -> A lag, fence C, drain (A confirms C's final LSN), verify C against A, sequences C -> A, drop the
    reverse subscription, commit, unfence A. Any failure after C's fence and before A's unfence lifts it and leaves A
    fenced; a fence watchdog beside it (:class:`~pgshift.migration.operators.fence_watchdog.FenceWatchdogOperator` on C)
    lifts it if the task dies.

    ``dry_run`` (the default) fences nothing: it drains to C's current position and verifies while C takes writes.
    Writes ``<report_dir>/fallback/<run_id>/report.json`` and a summary in the log.

    :param app_roles: the roles to fence on C; empty: those the cutover fenced on A (A's fence marker)
    :param publication: the fallback publication on C
    :param subscription: the fallback subscription on A (its slot on C has the same name)
    """

    template_fields: Sequence[str] = (
        "conn_a", "conn_c", "conn_c_subscription", "publication", "subscription", "app_roles", "schemas", "tables",
        "thresholds", "readings", "interval", "window", "drain_timeout", "parallelism", "is_dry_run", "report_dir",
    )

    def __init__(self, *, conn_a: str, conn_c: str, conn_c_subscription: str, publication: str, subscription: str,
                 app_roles: list[str] | None = None, schemas: list[str] | None = None,
                 tables: list[str] | None = None, thresholds: ChainLimits | Mapping[str, Any] | None = None,
                 readings: int = 3, interval: float = 1.0, window: float = 60.0, drain_timeout: float = 120,
                 parallelism: int = 4, dry_run: bool = True, report_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_a, self.conn_c, self.conn_c_subscription = conn_a, conn_c, conn_c_subscription
        self.publication, self.subscription, self.app_roles = publication, subscription, app_roles
        self.schemas, self.tables, self.thresholds = schemas, tables, thresholds
        self.readings, self.interval, self.window = readings, interval, window
        self.drain_timeout, self.parallelism = drain_timeout, parallelism
        self.is_dry_run, self.report_dir = dry_run, report_dir  # not self.dry_run: BaseOperator.dry_run() renders
        self._run: FallbackRun | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.migration.switchover.fallback.run import FallbackRun, new_report
        from pgshift.migration.switchover.recovery import recover_interrupted_attempt

        s = self._settings(context)
        recover_interrupted_attempt(FALLBACK, s.conn_c, s.run_id, s.fence_path)
        dry_run = bool(self.is_dry_run)
        report = new_report(context["dag"].dag_id, s, dry_run=dry_run)
        with FallbackRun.connect(s, report, self.log) as run:
            self._run = run
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
        if self._run:
            self._run.rollback_in_new_session()

    def _settings(self, context: Context) -> FallbackSettings:
        from pgshift.common.report import report_root, safe_name
        from pgshift.migration.limits import ChainLimits
        from pgshift.migration.switchover.fallback.run import FallbackSettings

        if isinstance(self.app_roles, str):
            raise AirflowFailException(f"app_roles must be a list of role names, got {self.app_roles!r}")
        protected: dict[str, str] = {}
        for conn_id, what in ((self.conn_c, "the role Airflow uses on C"),
                              (self.conn_c_subscription, "the role A's subscription reads C with")):
            login = BaseHook.get_connection(conn_id).login
            if login:
                protected.setdefault(login, what)
        limits = ChainLimits.from_values(self.thresholds) if self.thresholds else None
        return FallbackSettings(
            run_id=context["run_id"], conn_a=self.conn_a, conn_c=self.conn_c, publication=str(self.publication),
            subscription=str(self.subscription), app_roles=list(self.app_roles or []), protected=protected,
            schemas=self.schemas, tables=self.tables,
            max_lag_bytes=limits.cdc_lag_max_bytes if limits else 16 * 2**20, readings=int(self.readings),
            interval=float(self.interval), window=float(self.window), drain_timeout=float(self.drain_timeout),
            parallelism=int(self.parallelism),
            run_dir=report_root(self.report_dir) / "fallback" / safe_name(context["run_id"]))


class FinishOperator(BaseOperator):
    """Stay on C: drop A's fallback subscription, C's fallback slot and publication, B's physical slot and the
    chain's publication on A (and the chain's slot on B if left); A stays fenced. Refused while a fallback is under
    way. ``dry_run`` (the default) only names what it would drop."""

    template_fields: Sequence[str] = ("conn_a", "conn_b", "conn_c", "fallback_publication", "fallback_subscription",
                                      "publication", "physical_slot", "slot", "is_dry_run", "report_dir")

    def __init__(self, *, conn_a: str, conn_b: str, conn_c: str, fallback_publication: str,
                 fallback_subscription: str, publication: str, physical_slot: str, slot: str, dry_run: bool = True,
                 report_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_a, self.conn_b, self.conn_c = conn_a, conn_b, conn_c
        self.fallback_publication, self.fallback_subscription = fallback_publication, fallback_subscription
        self.publication, self.physical_slot, self.slot = publication, physical_slot, slot
        self.is_dry_run, self.report_dir = dry_run, report_dir

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.common.report import report_root, safe_name, write_json
        from pgshift.migration.switchover.fallback.finish import FinishSettings, finish_way_back

        s = FinishSettings(conn_a=self.conn_a, conn_b=self.conn_b, conn_c=self.conn_c,
                           fallback_publication=self.fallback_publication,
                           fallback_subscription=self.fallback_subscription, publication=self.publication,
                           physical_slot=self.physical_slot, slot=self.slot)
        dry_run = bool(self.is_dry_run)
        result = finish_way_back(s, self.log, dry_run=dry_run)
        path: Path = report_root(self.report_dir) / "finish" / safe_name(context["run_id"]) / "report.json"
        write_json(path, {"action": "finish", "run_id": context["run_id"], "dry_run": dry_run, **result.as_dict()})
        if result.problems:
            raise AirflowFailException("Finish left some objects behind:\n"
                                       + "\n".join(f"  - {p}" for p in result.problems))
        return {"report": str(path), **result.as_dict()}
