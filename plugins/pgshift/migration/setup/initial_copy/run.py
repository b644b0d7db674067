"""The parallel initial copy's runbook (the package's docstring says each step and why it loses nothing)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.setup.databases import about
from pgshift.migration.setup.initial_copy.plan import lsn_value, split
from pgshift.migration.setup.initial_copy.progress import Progress
from pgshift.migration.setup.initial_copy.relay import CopyFailed, Endpoints, copy_all

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.config import ChainConfig
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.setup.initial_copy.plan import CopyRange


@dataclass
class CopyRun:
    """One attempt: what it holds (the pause: :attr:`holding_replay`, for ``on_kill``) and what it found."""

    parts: list[ChainConfig]  # the databases still to copy (their subscriptions do not exist yet)
    workers: int
    max_pause: float
    log: Logger
    bin_dir: str | None = None  # where psql is (pgshift.migration.setup.binaries.client_tool)
    stop: threading.Event = field(default_factory=threading.Event)
    holding_replay: bool = False
    report: dict[str, Any] = field(default_factory=dict)


def copy_from_frozen_b(run: CopyRun) -> dict[str, Any]:
    """Steps 1-7 of the runbook for ``run.parts``; returns the report (L, the pause, the figures, the verify)."""
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.verify.frozen import FrozenPointError, replay_paused

    home = run.parts[0]
    with StandbyHook(home.conn_b) as b:
        state, _ = b.replay_pause_state()
        if state != "not paused":
            raise AirflowFailException(f"B's replay is {state} (someone ran pg_wal_replay_pause()): the parallel copy "
                                       "needs it replaying to freeze it itself; SELECT pg_wal_replay_resume() on B, "
                                       "then retry. Nothing was copied")
        for part in run.parts:
            _slot_ready(b, part)
        started = time.monotonic()
        try:
            with replay_paused(b) as (lsn, ours):
                run.holding_replay = ours
                run.report["lsn"] = lsn
                run.log.info("B's replay paused at L = %s: copying every table as of L", lsn)
                for part in run.parts:
                    _slot_not_after(b, part, lsn)
                _copy(run, b, lsn, started)
                run.report["paused_seconds"] = round(time.monotonic() - started, 3)
        except FrozenPointError as exc:
            raise AirflowFailException(f"the parallel copy could not freeze B: {exc}; nothing was streamed") from exc
        finally:
            run.holding_replay = False
    run.log.info("B's replay resumed after %.1f s; every slot at L = %s", time.monotonic() - started, lsn)
    return run.report


def _slot_ready(b: StandbyHook, part: ChainConfig) -> None:
    slot = b.logical_slot(part.slot_name)
    if slot is None:
        raise AirflowFailException(about(part, f"no slot {part.slot_name!r} on B: create_logical_slot makes it first; "
                                               "nothing was copied"))
    if slot.active:
        raise AirflowFailException(about(part, f"slot {part.slot_name!r} on B is in use: something streams from it "
                                               "already; nothing was copied"))


def _slot_not_after(b: StandbyHook, part: ChainConfig, lsn: str) -> None:
    """A slot whose consumer confirmed past L would skip what B replays between L and there: refused."""
    slot = b.slot_state(part.slot_name, "replay", lsn)
    if slot is None or slot.confirmed_flush_lsn is None:
        raise AirflowFailException(about(part, f"slot {part.slot_name!r} on B has no confirmed position"))
    if lsn_value(slot.confirmed_flush_lsn) > lsn_value(lsn):
        raise AirflowFailException(about(part, f"slot {part.slot_name!r} on B is at {slot.confirmed_flush_lsn}, past "
                                               f"the frozen point L = {lsn}: the rows between would be lost; drop the "
                                               "slot and set the chain up again. Nothing was copied"))


def _copy(run: CopyRun, b: StandbyHook, lsn: str, started: float) -> None:
    """Steps 3-6 while B stands at ``lsn``."""
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.scope import Scope
    from pgshift.migration.setup.binaries import client_tool
    from pgshift.migration.verify.parity import compare_still, hash_methods

    ranges: list[CopyRange] = []
    ends: dict[str, Endpoints] = {}
    same_major: dict[str, bool] = {}
    tables_of: dict[str, list[tuple[str, str]]] = {}
    methods_of: dict[str, dict[tuple[str, str], str]] = {}
    for part in run.parts:
        scope = Scope.from_params(part.schemas, part.tables)
        with StandbyHook(part.conn_b) as src, TargetHook(part.conn_c) as dst:
            tables = tables_of[part.conn_b] = [(t.schema, t.table) for t in src.scope_tables(scope, "public")]
            left = dst.tables_with_rows(tables)
            if left:
                run.log.warning(about(part, "C's tables hold rows an earlier attempt copied: emptied first: %s"),
                                ", ".join(f"{s}.{t}" for s, t in left))
                dst.truncate(left)
            ranges += split(src.copy_sources(tables), run.workers, part.conn_b)
            methods_of[part.conn_b] = hash_methods(src, tables)  # what the verification at L hashes with
            ends[part.conn_b] = Endpoints(src.libpq_env(), dst.libpq_env(), client_tool("psql", run.bin_dir))
            same_major[part.conn_b] = src.server_version_num() // 10000 == dst.server_version_num() // 10000
    ranges.sort(key=lambda r: r.estimated_bytes, reverse=True)  # the largest first: the pool ends on small pieces
    progress = Progress.of(ranges, run.log)
    run.report["workers"] = run.workers
    run.report["ranges"] = len(ranges)
    run.log.info("Copying %d table(s) in %d range(s) with %d session(s)", len(progress.tables), len(ranges),
                 run.workers)

    def binary(r: CopyRange) -> bool:
        return r.source.builtin_types and same_major[r.part]

    copy_started = time.monotonic()
    try:
        copy_all(ranges, run.workers, lambda r: ends[r.part], binary, progress, run.log, run.stop)
    except CopyFailed as exc:
        raise AirflowFailException(f"the parallel copy failed: {exc}; B resumed, no slot moved, nothing "
                                   "streams: retry the task (it empties C's tables first)") from exc
    finally:
        run.report["copy"] = progress.report()
    progress.say()
    run.report["copy_seconds"] = round(time.monotonic() - copy_started, 3)
    _within_pause(run, started, "the copy")

    verified: dict[str, Any] = {}
    verify_started = time.monotonic()
    for part in run.parts:
        tables = tables_of[part.conn_b]
        results = compare_still(part.conn_b, part.conn_c, tables, part.verify_parallelism, methods_of[part.conn_b])
        verified[part.database or ""] = [r.as_dict() for r in results]
        bad = [r for r in results if r.status != "equal"]
        if bad:
            raise AirflowFailException(about(part, "the copy differs from B at L = " + lsn + ": "
                                                   + "; ".join(r.describe() for r in bad)
                                                   + "; B resumed, no slot moved, nothing streams"))
        run.log.info(about(part, "Verified at L: %d table(s) equal on B and C (%d rows)"), len(results),
                     sum(int(r.source_rows or 0) for r in results))
    run.report["verified"] = verified
    run.report["verify_seconds"] = round(time.monotonic() - verify_started, 3)
    _within_pause(run, started, "the verification")
    for part in run.parts:
        with TargetHook(part.conn_c) as dst:
            dst.flush_wal()  # the copy committed with synchronous_commit=off: on disk before the slot moves past it
        moved = b.advance_slot(part.slot_name, lsn)
        run.log.info(about(part, "Slot %s on B moved to %s: C's subscription streams what B replays after L"),
                     part.slot_name, moved)


def _within_pause(run: CopyRun, started: float, what: str) -> None:
    if time.monotonic() - started > run.max_pause:
        raise AirflowFailException(f"{what} took B's replay pause past max_copy_pause_seconds={run.max_pause:g}: "
                                   "abandoned, B resumed, no slot moved; raise the limit or copy_workers")
