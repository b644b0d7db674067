"""The cutover task for a chain of several databases (``databases``): the set's runbook
(:mod:`pgshift.migration.switchover.cutover.several`) driven with one run per database, and the retry that finishes
an attempt which died past its commit point. Kept beside :mod:`pgshift.migration.operators.cutover` so that the
single database's task reads as it always did."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Protocol

from airflow.sdk import Context

from pgshift.migration.switchover.state import Outcome, iso

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.checks.gate import GateSpec
    from pgshift.migration.config import ChainConfig
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.switchover.cutover.fallback_phases import FallbackSpec
    from pgshift.migration.switchover.cutover.phases import CutoverRun
    from pgshift.migration.switchover.cutover.settings import CutoverSettings
    from pgshift.migration.switchover.lease import FenceMarker
    from pgshift.migration.switchover.recovery import Finish


class CutoverOperator(Protocol):
    """What this module uses of :class:`pgshift.migration.operators.cutover.CutoverOperator` (named here, not
    imported: that module imports this one)."""

    active_run: CutoverRun | None
    active_parts: list[CutoverRun]

    @property
    def chain(self) -> ChainConfig: ...

    @property
    def log(self) -> Logger: ...

    def cutover_settings(self, context: Context, chain: ChainConfig | None = None,
                  access: Any = None) -> CutoverSettings: ...

    def fallback_spec(self, chain: ChainConfig | None = None) -> FallbackSpec: ...

    def gate_spec(self) -> GateSpec: ...

    def check_fence_roles(self, a: PrimaryHook) -> None: ...


def part_settings(op: CutoverOperator, context: Context, settings: CutoverSettings) -> list[CutoverSettings]:
    """Each database's settings, in ``databases``' order: its connections and names (ChainConfig.in_database) and
    the task's access spec."""
    return [op.cutover_settings(context, part, settings.access) for part in op.chain.database_chains()]


def finish_set(op: CutoverOperator, context: Context, settings: CutoverSettings) -> Finish:
    """What the retry runs when an earlier attempt of this run died past its commit point (see
    :func:`pgshift.migration.switchover.cutover.several.finish_committed`)."""

    def finish(a: PrimaryHook, marker: FenceMarker) -> list[str]:
        from pgshift.migration.switchover.cutover.several import finish_committed

        return finish_committed(a, marker, settings, part_settings(op, context, settings), op.log)

    return finish


def cut_over_set(op: CutoverOperator, context: Context, settings: CutoverSettings,
                 finished: list[str] | None) -> dict[str, Any]:
    """The cutover (or its dry run) of every database in one fence; or, ``finished`` by the retry's recovery, the
    report of the earlier attempt brought to ``ready``."""
    from pgshift.migration.switchover.cutover.phases import CutoverRun, new_report
    from pgshift.migration.switchover.cutover.several import DatabaseSetCutover
    from pgshift.migration.switchover.report import DatabaseReport

    if finished is not None:
        return _finished_by_retry(op, settings, finished)
    chain, dag_id = op.chain, context["dag"].dag_id
    parts_settings = part_settings(op, context, settings)
    fallbacks = [op.fallback_spec(part) for part in chain.database_chains()]
    report = new_report(dag_id, settings, dry_run=chain.dry_run)
    with CutoverRun.connect(settings, report, op.log) as home, ExitStack() as stack:
        sections = {s.database or "": DatabaseReport(dag_id, s.run_id, dry_run=chain.dry_run, mode=s.mode)
                    for s in parts_settings}
        parts = [stack.enter_context(CutoverRun.connect(s, sections[s.database or ""], op.log))
                 for s in parts_settings]
        report.databases = sections
        op.active_run, op.active_parts = home, parts
        home.take_lease()
        op.check_fence_roles(home.a)
        cutover = DatabaseSetCutover(home, parts, fallbacks, op.log)
        try:
            if chain.dry_run:
                cutover.rehearse(op.gate_spec(), list(chain.schemas), list(chain.tables))
            else:
                cutover.cut_over(op.gate_spec(), list(chain.app_roles), list(chain.schemas), list(chain.tables))
        finally:
            for part in parts:
                part.end_verify()
        return home.finish()


def _finished_by_retry(op: CutoverOperator, settings: CutoverSettings, done: list[str]) -> dict[str, Any]:
    """The earlier attempt's report, now ``ready``, with what the retry did (``finished_by_retry``)."""
    from pgshift.common.report import write_json
    from pgshift.migration.switchover.fence import FenceRecord
    from pgshift.migration.switchover.state import FenceState

    path = settings.run_dir / "report.json"
    report: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {"run_id": settings.run_id}
    now = time.time()
    report["status"] = str(Outcome.READY)
    report.setdefault("timeline", {})["ready"] = iso(now)
    report["finished_by_retry"] = {"at": iso(now), "steps": done}
    report.pop("error", None)
    record = FenceRecord.load(settings.fence_path)
    if record is not None:
        record.state = FenceState.READY
        record.save(settings.fence_path)
    write_json(path, report)
    for step in done:
        op.log.info("Finished by this retry: %s", step)
    op.log.info("Cutover of %s finished by this retry: C is ready", ", ".join(op.chain.databases))
    return {"report": str(path), "status": str(Outcome.READY), "finished_by_retry": done,
            "write_downtime_seconds": report.get("write_downtime_seconds"), "final_lsn": report.get("final_lsn")}
