"""The cutover's ``verify=delta``: every row verified before the fence, and inside it only the rows written since.

B is the control layer: its replay can stand still without touching A. The runbook, before the fence:

1. **A slot of pgshift's own on B** (``<slot>_verify``, pgoutput, the chain's publication): from here on, every
   row change of a migrated table is known from the WAL (:mod:`pgshift.migration.verify.changes`).
2. **Full check at a frozen point L0**: B's replay paused at L0, C has confirmed L0, every table fingerprinted on
   B and on C (:func:`pgshift.migration.verify.frozen.at_frozen_point`); the slot's changes up to L0 are consumed and
   set aside.
   The whole database is verified at L0 with no read on A and no write stopped.
3. **Catch-up rounds**: once B has replayed what A had written when the round began, at a new frozen point Lk
   only the rows whose keys changed between L(k-1) and Lk are compared, B against C. After each round B and C
   are proven equal at Lk. Rounds repeat until a round's delta is small (:data:`SMALL_ROUND_KEYS`) or
   :data:`MAX_ROUNDS` were run; then C catches up with A (its backlog from the last pause is applied now, not
   in the drain), so the delta left for the fence is the few seconds of writes since the last frozen point.
4. **Forecast**: drain (what C took to confirm the last frozen point), the rows left to check at the rate they
   were checked, whole-table checks, and the other phases; refused before the fence past
   ``max_write_downtime_seconds``.

Inside the fence (A cannot change): once B has replayed A's final LSN, the slot's changes up to it give the keys
written since the last frozen point, and A's side of those rows is read while C is still draining
(:meth:`DeltaCheck.prefetch`); after the drain C's side is read and compared, **A against C** by primary key.
A table without a primary key (or truncated, or whose key a change did not carry) is compared whole, and named
in the report.

Why this is enough: C equals B at every frozen point, and between two of them the only rows that can differ
are the rows replication wrote, whose keys the slot names - as long as replication is C's only writer. The
application's roles cannot log in to C before "ready" (pgshift.migration.access.roles), and the report names any other
session
that was busy on C since the first frozen point (``other_sessions_on_c``).

B's replay is resumed on every way out (:func:`pgshift.migration.verify.frozen.replay_paused`); each pause is bounded by
``max_replay_pause_seconds``. The slot is dropped when the cutover ends, and a leftover (a killed task) is
dropped by the next attempt.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgshift.migration.verify.changes import ChangeSet, PgOutputReader
from pgshift.migration.verify.delta_compare import SideReading, compare_changes, judge_changes, read_side
from pgshift.migration.verify.parity import Table, TableParity, compare_still, table_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook

SMALL_ROUND_KEYS = 2000  # a catch-up round that found at most this many changed keys is the last one
MAX_ROUNDS = 5
OTHER_PHASES_SECONDS = 0.3  # fence, roles and privileges, sequences, login proof, finalize: measured ~0.25 s here
DEFAULT_KEY_RATE = 20000.0  # keys/s compared on both sides, until a round has measured it


class DeltaMismatch(Exception):
    """B and C (before the fence) or A and C (inside it) differ."""


class DeltaLag(Exception):
    """B or C did not catch up with A between two frozen points in time."""


def verification_slot(chain_slot: str) -> str:
    """The delta check's own slot on B, named after the chain's slot (at most 63 characters)."""
    return f"{chain_slot[:56]}_verify"


@dataclass(frozen=True)
class DeltaSettings:
    conn_a: str
    conn_b: str
    conn_c: str
    chain_slot: str  # C's (or DMS's) slot on B: its confirmation says C has a frozen point
    publication: str  # the chain's publication: the migrated tables
    confirm_timeout: float
    max_pause: float  # longest pause of B's replay, each frozen point
    parallelism: int
    slot_timeout: float = 60.0

    @property
    def slot(self) -> str:
        return verification_slot(self.chain_slot)


@dataclass
class Forecast:
    drain_seconds: float
    keys_expected: int
    key_rate: float  # keys compared per second (both sides at once)
    whole_tables: dict[str, int]  # table -> rows, checked whole inside the fence
    whole_seconds: float
    other_seconds: float = OTHER_PHASES_SECONDS

    @property
    def seconds(self) -> float:
        return round(self.drain_seconds + self.keys_expected / self.key_rate + self.whole_seconds
                     + self.other_seconds, 3)

    def describe(self) -> str:
        whole = (f"; whole-table checks of {', '.join(f'{t} ({n} rows)' for t, n in self.whole_tables.items())} "
                 f"~{self.whole_seconds:.3f} s") if self.whole_tables else ""
        return (f"predicted write downtime {self.seconds:.3f} s: drain ~{self.drain_seconds:.3f} s (C's last "
                f"confirmation of a frozen point); ~{self.keys_expected} changed rows to verify inside the fence at "
                f"{self.key_rate:.0f} rows/s ~{self.keys_expected / self.key_rate:.3f} s{whole}; other phases "
                f"~{self.other_seconds:.3f} s")

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "drain_seconds": round(self.drain_seconds, 3),
                "keys_expected": self.keys_expected, "key_rate_per_second": round(self.key_rate),
                "whole_tables": self.whole_tables, "whole_seconds": round(self.whole_seconds, 3),
                "other_seconds": self.other_seconds}


@dataclass
class DeltaCheck:
    """One cutover's delta verification: its slot on B, its frozen points, and what it found (see the module)."""

    settings: DeltaSettings
    tables: list[Table]
    methods: dict[Table, str]
    primary_keys: dict[Table, list[str]]
    roots: dict[Table, Table]  # partition -> the partitioned table verified in its place
    log: Any
    rounds: list[dict[str, Any]] = field(default_factory=list)
    rows_verified_before_fence: int = 0
    first_point_at: float | None = None  # epoch seconds of the first frozen point
    last_point_at: float | None = None  # monotonic time B was paused for the last frozen point
    last_confirm_seconds: float = 0.0
    key_rate: float = DEFAULT_KEY_RATE
    row_rates: float = 0.0  # rows hashed per second in the full check (whole-table estimates)
    row_counts: dict[Table, int] = field(default_factory=dict)
    whole_last_round: set[Table] = field(default_factory=set)
    full_results: list[TableParity] = field(default_factory=list)  # every table at the first frozen point
    holding_replay: bool = False  # a frozen point of this check holds B's replay (what a kill must resume)
    holding_shared: bool = False  # so does a frozen point this check shares with others (several databases)
    _reader: PgOutputReader | None = None

    @classmethod
    def for_tables(cls, a: PrimaryHook, settings: DeltaSettings, tables: list[Table], methods: dict[Table, str],
                   log: Any) -> DeltaCheck:
        from pgshift.common.sql import qualified

        keys = {t: a.primary_key_columns(qualified(*t).as_string(a.live)) for t in tables}
        return cls(settings, list(tables), dict(methods), keys, a.partitions_of(tables), log)

    # -- the slot
    def open(self, a: PrimaryHook, b: StandbyHook) -> None:
        """Create the verification slot on B (a leftover of an earlier attempt is dropped first)."""
        from pgshift.migration.setup.standby_slot import create_on_standby, drop_orphan

        s = self.settings
        if b.logical_slot(s.slot) is not None:
            drop_orphan(b, s.slot)
            self.log.warning("Dropped slot %r on B, left by an earlier attempt", s.slot)
        created, _ = create_on_standby(a, b, s.slot, "pgoutput", s.slot_timeout, nudge_every=0.1)
        self._reader = PgOutputReader(self.primary_keys, self.roots)
        self.log.info("Delta check: slot %r on B created at %s", s.slot, created.lsn)

    def close(self, b: StandbyHook) -> None:
        """Drop the verification slot (it would pin WAL on B); a failure is logged, the next attempt retries."""
        from pgshift.migration.setup.standby_slot import drop_orphan

        try:
            if drop_orphan(b, self.settings.slot):
                self.log.info("Delta check: slot %r on B dropped", self.settings.slot)
        except Exception as exc:  # noqa: BLE001 - B may be the broken thing; the next attempt drops it
            self.log.warning("Could not drop slot %r on B (%s): the next cutover attempt drops it",
                             self.settings.slot, exc)

    def _changes(self, b: StandbyHook) -> ChangeSet:
        if self._reader is None:
            raise RuntimeError("the verification slot is not open")
        changes = self._reader.read(b.decode_changes(self.settings.slot, self.settings.publication))
        if changes.outside:  # the publication carries a table the plan does not verify: no silent gap
            raise DeltaMismatch("rows changed in table(s) the cutover does not verify: "
                                + ", ".join(sorted(table_name(t) for t in changes.outside)))
        return changes

    # -- before the fence
    def full_check(self, b: StandbyHook) -> dict[str, Any]:
        """Every table, B against C, at a frozen point L0 (see the module); DeltaMismatch if any differs."""
        s = self.settings

        def work(_lsn: str) -> tuple[list[TableParity], ChangeSet, float]:
            from pgshift.migration.hooks.standby import StandbyHook

            with StandbyHook(s.conn_b) as reader:
                skipped = self._changes(reader)  # up to L0: covered by the full comparison
            started = time.monotonic()
            results = compare_still(s.conn_b, s.conn_c, self.tables, s.parallelism, self.methods)
            return results, skipped, time.monotonic() - started

        frozen = self._frozen(b, work, "the full check")
        results, _, seconds = frozen.result
        self.first_point_at = time.time() - frozen.paused_seconds
        self.full_results = results
        bad = [r for r in results if r.status != "equal"]
        if bad:
            raise DeltaMismatch(f"B and C differ at B's frozen position {frozen.lsn} in {len(bad)} table(s): "
                                + "; ".join(r.describe() for r in bad))
        self.row_counts = {t: int(r.source_rows or 0) for t, r in zip(self.tables, results, strict=True)}
        rows = sum(self.row_counts.values())
        self.rows_verified_before_fence += rows
        self.row_rates = rows / seconds if seconds > 0 else 0.0
        summary = {"kind": "full", "lsn": frozen.lsn, "tables": len(results), "rows": rows,
                   "paused_seconds": frozen.paused_seconds, "compare_seconds": round(seconds, 3)}
        self.rounds.append(summary)
        self.log.info("Delta check: every table equal on B and C at %s (%d rows, B paused %.3f s)",
                      frozen.lsn, rows, frozen.paused_seconds)
        return summary

    def catch_up(self, a: PrimaryHook, b: StandbyHook) -> list[dict[str, Any]]:
        """Rounds of changed rows, B against C at frozen points, until the delta is small; then C catches up with
        A (see the module). Each frozen point is taken once B has replayed what A had written when the round
        began, so that B's backlog from the last pause is in the round, not left for the fence."""
        done = []
        for _ in range(MAX_ROUNDS):
            self._wait(a, b, confirmed=False)
            summary = self._round(b)
            done.append(summary)
            if summary["keys"] <= SMALL_ROUND_KEYS:
                break
        self._wait(a, b, confirmed=True)  # C's backlog from the last pause: applied now, not in the drain
        return done

    def shared_round(self, b: StandbyHook) -> dict[str, Any]:
        """One catch-up round at the frozen point B is held at for several databases at once (the cutover of
        several databases: :meth:`pgshift.migration.switchover.cutover.several.DatabaseSetCutover.pre_verify`):
        B is paused already, so the round takes its position and leaves the resume to the holder."""
        return self._round(b)

    def wait_replayed(self, a: PrimaryHook, b: StandbyHook) -> None:
        """Until B has replayed what A had written now (before a frozen point)."""
        self._wait(a, b, confirmed=False)

    def settle(self, a: PrimaryHook, b: StandbyHook) -> None:
        """After the last round: C's backlog from the pause applied now, not in the drain."""
        self._wait(a, b, confirmed=True)

    def _wait(self, a: PrimaryHook, b: StandbyHook, *, confirmed: bool) -> None:
        """Until B has replayed (and, ``confirmed``, C has confirmed) A's current position."""
        from pgshift.migration.hooks.target import TargetHook
        from pgshift.migration.switchover.drain import wait_confirmed

        s, lsn = self.settings, a.current_wal_lsn()
        if not confirmed:
            deadline = time.monotonic() + s.confirm_timeout
            while not b.replay_reached(lsn).reached:
                if time.monotonic() > deadline:
                    raise DeltaLag(f"B did not replay A's position {lsn} within {s.confirm_timeout:g} s")
                time.sleep(0.02)
            return
        from pgshift.migration.switchover.drain import DrainTimeout

        try:
            with TargetHook(s.conn_c) as c:
                wait_confirmed(b, s.chain_slot, lsn, s.confirm_timeout, nudge=a, flush=c)
        except DrainTimeout as exc:
            raise DeltaLag(f"C did not catch up with A after the last frozen point: {exc}") from exc

    def _round(self, b: StandbyHook) -> dict[str, Any]:
        s = self.settings
        window_start = self.last_point_at

        def work(_lsn: str) -> tuple[ChangeSet, list[TableParity], float]:
            from pgshift.migration.hooks.standby import StandbyHook
            from pgshift.migration.hooks.target import TargetHook

            with StandbyHook(s.conn_b) as reader, TargetHook(s.conn_c) as target:
                changes = self._changes(reader)
                started = time.monotonic()
                results = compare_changes(reader, target, s.conn_b, s.conn_c, changes, self.primary_keys,
                                          self.methods, s.parallelism)
                return changes, results, time.monotonic() - started

        frozen = self._frozen(b, work, "a catch-up round")
        changes, results, seconds = frozen.result
        bad = [r for r in results if r.status != "equal"]
        if bad:
            raise DeltaMismatch(f"B and C differ at B's frozen position {frozen.lsn} in rows changed since the "
                                f"last check: " + "; ".join(r.describe() for r in bad))
        if changes.key_count and seconds > 0:
            self.key_rate = max(changes.key_count / seconds, 1.0)
        self.whole_last_round = set(changes.whole)
        self.rows_verified_before_fence += changes.key_count
        window = (self.last_point_at or 0) - (window_start or 0)
        summary = {"kind": "changed rows", "lsn": frozen.lsn, **changes.summary(),
                   "paused_seconds": frozen.paused_seconds, "compare_seconds": round(seconds, 3),
                   "window_seconds": round(window, 3)}
        self.rounds.append(summary)
        self.log.info("Delta check: %d changed rows equal on B and C at %s (B paused %.3f s)",
                      changes.key_count, frozen.lsn, frozen.paused_seconds)
        return summary

    def _frozen(self, b: StandbyHook, work: Callable[[str], Any], what: str) -> Any:
        from pgshift.migration.verify.frozen import at_frozen_point

        s = self.settings
        paused_at = time.monotonic()
        self.holding_replay = b.replay_pause_state()[0] == "not paused"  # else a DBA's pause: never resumed by us
        try:
            frozen = at_frozen_point(b, s.conn_c, s.chain_slot, work, confirm_timeout=s.confirm_timeout,
                                     max_pause=s.max_pause, what=what)
        finally:
            self.holding_replay = False
        self.last_point_at, self.last_confirm_seconds = paused_at, frozen.confirm_seconds
        return frozen

    def forecast(self) -> Forecast:
        """The write downtime to expect if the fence came now (see the module)."""
        rounds = [r for r in self.rounds if r["kind"] == "changed rows"]
        since = time.monotonic() - (self.last_point_at or time.monotonic())
        if rounds and rounds[-1]["window_seconds"] > 0:
            per_second = rounds[-1]["keys"] / rounds[-1]["window_seconds"]
        else:
            per_second = 0.0
        whole = {table_name(t): self.row_counts.get(t, 0) for t in sorted(self.whole_last_round)}
        whole_seconds = sum(whole.values()) / self.row_rates if self.row_rates > 0 else 0.0
        return Forecast(self.last_confirm_seconds, round(per_second * since), self.key_rate, whole, whole_seconds)

    # -- inside the fence
    def prefetch(self, lsn: str) -> Future[tuple[ChangeSet, SideReading]]:
        """Inside the fence, while C drains: once B has replayed A's final LSN ``lsn``, decode the changes since
        the last frozen point and read A's side of them (A is fenced: its rows are final). Only C's side is left
        for :meth:`fence_check`, after the drain."""
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgshift-prefetch")
        try:
            return pool.submit(self._source_side, lsn)
        finally:
            pool.shutdown(wait=False)

    def _source_side(self, lsn: str) -> tuple[ChangeSet, SideReading]:
        from pgshift.migration.hooks.base import MigrationHook
        from pgshift.migration.hooks.standby import StandbyHook

        s = self.settings
        with StandbyHook(s.conn_b) as b:
            deadline = time.monotonic() + s.confirm_timeout
            while not b.replay_reached(lsn).reached:
                if time.monotonic() > deadline:
                    raise DeltaLag(f"B did not replay A's final LSN {lsn} within {s.confirm_timeout:g} s")
                time.sleep(0.005)
            changes = self._changes(b)
        with MigrationHook(s.conn_a) as a:
            return changes, read_side(a, s.conn_a, changes, self.primary_keys, self.methods, s.parallelism)

    def fence_check(self, prefetched: Future[tuple[ChangeSet, SideReading]], since: float | None = None) -> tuple[
            list[TableParity], ChangeSet, list[dict[str, Any]]]:
        """After the drain: C's side of the rows changed since the last frozen point, judged against A's
        (:meth:`prefetch`); and C's other sessions."""
        from pgshift.migration.hooks.target import TargetHook

        s = self.settings
        changes, source = prefetched.result()
        with TargetHook(s.conn_c) as target:
            results = judge_changes(changes, source, read_side(target, s.conn_c, changes, self.primary_keys,
                                                               self.methods, s.parallelism))
            others = target.other_sessions(since if since is not None else (self.first_point_at or time.time()))
        return results, changes, others
