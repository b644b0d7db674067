"""Setup's ``initial_copy`` task: C's first copy from a frozen B when ``initial_copy`` is ``parallel`` (the runbook:
:mod:`pgshift.migration.setup.initial_copy`); nothing with ``subscription`` (C's subscription copies) or in DMS mode
(DMS's full load does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from pgshift.migration.operators.configured import ConfiguredOperator
from pgshift.migration.setup.databases import about

if TYPE_CHECKING:
    from pgshift.migration.setup.initial_copy.run import CopyRun


class InitialCopyOperator(ConfiguredOperator):
    """Copy every table in scope from B, frozen at L, to C in parallel, verify B against C at L, move the chain's slot
    to L, resume B, build the indexes and constraints on C; ``create_subscription`` then subscribes with
    ``copy_data = false``. A database whose subscription exists is left alone (a setup re-run). Killed, it resumes
    B's replay. Writes ``<report_dir>/initial_copy/<run_id>.json``; returns its figures (no secret in them)."""

    template_fields: Sequence[str] = (*ConfiguredOperator.template_fields, "pg_bin_dir")

    def __init__(self, *, pg_bin_dir: str | None = None, **kwargs: Any) -> None:
        """``pg_bin_dir``: where pg_dump and pg_restore are (None: see
        :func:`pgshift.migration.setup.binaries.client_tool`)."""
        super().__init__(**kwargs)
        self.pg_bin_dir = pg_bin_dir
        self.active: CopyRun | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.common.report import report_root, safe_name, write_json
        from pgshift.migration.hooks.target import TargetHook
        from pgshift.migration.setup.initial_copy.plan import default_workers
        from pgshift.migration.setup.initial_copy.post_data import restore_post_data
        from pgshift.migration.setup.initial_copy.run import CopyRun, copy_from_frozen_b

        chain = self.chain
        if not chain.parallel_copy:
            self.log.info("initial_copy=%s, mode=%s: %s", chain.initial_copy, chain.mode,
                          "DMS's full load copies the tables" if chain.mode == "dms"
                          else "C's subscription copies the tables (copy_data)")
            return {"initial_copy": str(chain.initial_copy), "copied": False}
        parts = []
        for part in chain.database_chains():
            with TargetHook(part.conn_c) as c:
                if c.subscription(part.subscription_name) is not None:
                    self.log.info(about(part, "Subscription %r exists on C: its rows are there, nothing to copy"),
                                  part.subscription_name)
                    continue
            parts.append(part)
        if not parts:
            return {"initial_copy": "parallel", "copied": False}
        workers = default_workers(chain.copy_workers)
        run = self.active = CopyRun(parts, workers, float(chain.max_copy_pause_seconds), self.log, self.pg_bin_dir)
        report = copy_from_frozen_b(run)
        report["post_data"] = {part.database or "": restore_post_data(part, workers, self.pg_bin_dir, self.log)
                               for part in parts}
        path = write_json(report_root(chain.report_dir) / "initial_copy" / f"{safe_name(context['run_id'])}.json",
                          report)
        self.log.info("Initial copy done: report %s", path)
        return {"initial_copy": "parallel", "copied": True, "report": str(path), "lsn": report["lsn"],
                "copy_seconds": report["copy_seconds"], "paused_seconds": report["paused_seconds"]}

    def on_kill(self) -> None:
        """Stop the workers and resume B's replay if this task paused it (in a session of its own)."""
        from pgshift.migration.hooks.standby import StandbyHook

        run = self.active
        if run is None:
            return
        run.stop.set()
        if run.holding_replay:
            with StandbyHook(run.parts[0].conn_b) as b:
                b.resume_replay()
            self.log.warning("B's replay resumed: the initial copy was killed while B was frozen")
