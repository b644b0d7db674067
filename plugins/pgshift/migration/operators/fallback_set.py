"""The fallback task for a chain of several databases (``databases``): the set's runbook
(:mod:`pgshift.migration.switchover.fallback.several`) driven with one run per database. Kept beside
:mod:`pgshift.migration.operators.fallback` so that the single database's task reads as it always did."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import Logger

    from pgshift.migration.config import ChainConfig
    from pgshift.migration.switchover.fallback.run import FallbackRun, FallbackSettings


class FallbackOperator(Protocol):
    """What this module uses of :class:`pgshift.migration.operators.fallback.FallbackOperator` (named here, not
    imported: that module imports this one)."""

    active_run: FallbackRun | None

    @property
    def chain(self) -> ChainConfig: ...

    @property
    def log(self) -> Logger: ...


def part_settings(chain: ChainConfig, settings: FallbackSettings) -> list[FallbackSettings]:
    """Each database's settings, in ``databases``' order: its qualified connections and its way back's names
    (ChainConfig.in_database); the run's directory, roles and limits are the set's."""
    return [dataclasses.replace(settings, conn_a=part.conn_a, conn_c=part.conn_c,
                                publication=part.fallback_publication_name,
                                subscription=part.fallback_subscription_name, database=part.database)
            for part in chain.database_chains()]


def fall_back_set(op: FallbackOperator, context: Context, settings: FallbackSettings) -> dict[str, Any]:
    """The fallback (or its dry run) of every database in one fence of C. ``settings`` is the home run's (the
    unqualified ``conn_a`` and ``conn_c``: A's marker, C's lease, fence and marker)."""
    from pgshift.migration.switchover.fallback.run import FallbackRun, new_report
    from pgshift.migration.switchover.fallback.several import DatabaseSetFallback
    from pgshift.migration.switchover.report import DatabaseFallbackReport

    chain, dag_id = op.chain, context["dag"].dag_id
    parts_settings = part_settings(chain, settings)
    report = new_report(dag_id, settings, dry_run=chain.dry_run)
    with FallbackRun.connect(settings, report, op.log) as home, ExitStack() as stack:
        sections = {s.database or "": DatabaseFallbackReport(dag_id, s.run_id, dry_run=chain.dry_run)
                    for s in parts_settings}
        parts = [stack.enter_context(FallbackRun.connect(s, sections[s.database or ""], op.log))
                 for s in parts_settings]
        report.databases = sections
        op.active_run = home
        home.take_lease()
        fallback = DatabaseSetFallback(home, parts, op.log)
        roles = fallback.check(settings.protected)
        plans = fallback.plan()
        fallback.gate()
        try:
            if chain.dry_run:
                fallback.rehearse(plans, roles)
            else:
                fallback.fall_back(plans, roles)
        except BaseException as exc:
            raise home.abort(exc) from exc
    return home.finish()
