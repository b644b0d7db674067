"""A switchover's report, typed: what the phases note while they run, and the JSON that
``<run_dir>/report.json`` holds, the log's summary reads and people, the demo and the benches read afterwards.

The phases set attributes (``run.report.write_downtime_seconds = ...``), so mypy checks every write; one
:meth:`Section.as_dict` gives the JSON. That JSON is the one the string-keyed report this replaces wrote, key for key:
a key is there only once a phase has set it, and keys come in the order they were first set (the order a run went
through its phases, as the dict's insertion order was). A :class:`Section` is a part noted bit by bit (the report,
the cutover's ``verify`` and ``fallback``); a :class:`Part` is one written whole (a frozen dataclass).

Decision: parts whose shape another module owns stay plain dicts here (the gate's figures, a fence's sessions, the
sequences, the privilege parity, a table's parity, the delta check's rounds and its ``inside_fence`` summary): their
type lives with the code that builds them, and the report only carries them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from pgshift.migration.switchover.state import CUTOVER, FALLBACK, Direction, Outcome, iso


class Part:
    """A part of the report written whole (a frozen dataclass): its fields, in their order."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


class Section:
    """A part of the report noted bit by bit: only the attributes set so far, in the order they were first set.
    An attribute no phase has set reads as its class default (None)."""

    renamed: ClassVar[dict[str, str]] = {}  # attribute -> its key in the JSON, where they differ

    def __init__(self) -> None:
        object.__setattr__(self, "_keys", [])

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute name

        def __setattr__(self, name: str, value: Any) -> None:
            if name not in self._keys:
                self._keys.append(name)
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        keys: list[str] = object.__getattribute__(self, "_keys")
        return {self.renamed.get(k, k): plain(getattr(self, k)) for k in keys}


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: the report's own parts as dicts; everything else as it is."""
    if isinstance(value, (Part, Section)):
        return value.as_dict()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class SwitchoverReport(Section):
    """What both directions note; each direction's own parts are in :class:`CutoverReport` and
    :class:`FallbackReport`."""

    direction: ClassVar[Direction]

    dag_id: str
    run_id: str
    action: str
    dry_run: bool
    mode: str | None = None  # the cutover's replication (native | dms); the fallback has none
    started_at: str | None
    timeline: dict[str, str | None]  # event -> ISO time, in order (see pgshift.migration.switchover.state.Timeline)
    tables: list[dict[str, Any]] | None = None  # each table's parity (parity.TableParity.as_dict)
    gate: dict[str, Any] | None = None  # the last reading before the fence
    terminated_sessions: list[dict[str, Any]] | None = None  # ended by the fence
    unfenced_sessions: list[dict[str, Any]] | None = None  # still connected, of roles the fence leaves alone
    final_lsn: str | None = None  # the fenced side's (the cutover's dry run: A's position when it drained)
    sequences: list[dict[str, Any]] | None = None  # set (or, dry run, to set) on the target
    privilege_parity: dict[str, Any] | None = None  # access.privileges' AccessParity.as_report
    write_downtime_seconds: float | None = None  # the fence -> ready
    status: Outcome | None = None
    error: str | None = None

    def __init__(self, dag_id: str, run_id: str, *, dry_run: bool, mode: str | None = None) -> None:
        super().__init__()
        self.dag_id, self.run_id, self.action, self.dry_run = dag_id, run_id, self.direction.action, dry_run
        if mode is not None:
            self.mode = mode
        self.started_at = iso(time.time())
        self.timeline = {}


class CutoverReport(SwitchoverReport):
    """The cutover's report (A -> C)."""

    direction = CUTOVER
    renamed: ClassVar[dict[str, str]] = {"final_lsn": CUTOVER.lsn_key}

    hash_methods: dict[str, str] | None = None  # "schema.table" -> hash method
    not_migrated: dict[str, int] | None = None  # what logical replication leaves behind (large objects)
    verify: VerifySection | None = None
    privilege_baseline: str | None = None  # "setup", or none (every difference synced)
    roles: RoleChanges | None = None
    privileges: PrivilegeChanges | None = None
    materialized_views_refreshed: list[ViewRefresh] | None = None
    login_proof: list[LoginProof] | None = None
    fallback: WayBack | None = None  # the way back's arming
    login_granted_on_c: list[str] | None = None
    forecast: dict[str, Any] | None = None  # several databases: the set's forecast (each one's is in its section)
    databases: dict[str, DatabaseReport] | None = None  # several databases: each one's part, by name
    finalized: list[str] | None = None  # several databases: finalized past the commit, in order
    schema_drift: dict[str, Any] | None = None  # A's and C's schemas compared before the fence (SchemaDrift.as_report)


class DatabaseReport(CutoverReport):
    """One database's part of a cutover of several (the set's report's ``databases``): its tables, sequences,
    drain, verification, privileges, login proof and way back, under the keys a single database's report has. The
    run's facts (dag, run, fence, status, write downtime) are the set's, once, at the top."""

    shared: ClassVar[tuple[str, ...]] = ("dag_id", "run_id", "action", "dry_run", "mode", "started_at")

    drain: dict[str, Any] | None = None  # the slot that confirmed the final LSN, and when

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in super().as_dict().items() if k not in self.shared}


class FallbackReport(SwitchoverReport):
    """The fallback's report (C -> A)."""

    direction = FALLBACK
    renamed: ClassVar[dict[str, str]] = {"final_lsn": FALLBACK.lsn_key}

    app_roles: list[str] | None = None  # fenced on C
    login_granted_on_a: list[str] | None = None
    leftovers: list[str] | None = None  # what could not be dropped once A was the primary
    databases: dict[str, DatabaseFallbackReport] | None = None  # several databases: each one's part, by name


class DatabaseFallbackReport(FallbackReport):
    """One database's part of a fallback of several (the set's report's ``databases``): its gate reading, drain,
    tables, privilege parity and sequences, under the keys a single database's report has. The run's facts (dag,
    run, fence, status, write downtime) are the set's, once, at the top."""

    shared: ClassVar[tuple[str, ...]] = ("dag_id", "run_id", "action", "dry_run", "mode", "started_at")

    drain: dict[str, Any] | None = None  # the reverse slot on C that confirmed C's final LSN, and when

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in super().as_dict().items() if k not in self.shared}


class VerifySection(Section):
    """The cutover's ``verify``: ``method`` (delta | full) and what it verified before and inside the fence."""

    method: str
    slot: str | None = None  # delta: the check's slot on B
    rounds: list[dict[str, Any]] | None = None  # delta: B's frozen points (the check's list: it grows as it goes)
    rows_verified_before_fence: int | None = None
    replay_resumed: bool | None = None  # B replaying after the pre-verification (None: unknown)
    forecast: dict[str, Any] | None = None  # verify.delta.Forecast.as_dict and the limit
    rows_verified_inside_fence: int | None = None
    inside_fence: dict[str, Any] | None = None  # verify.changes.ChangeSet.summary, seconds, the tables judged
    other_sessions_on_c: list[dict[str, Any]] | None = None

    def __init__(self, method: str) -> None:
        super().__init__()
        self.method = method


class WayBack(Section):
    """The cutover's ``fallback``: whether the way back C -> A is armed, or would be (dry run), and its undoing."""

    armed: bool | None = None  # not set when a rollback dropped what an interrupted arming had created
    publication: str | None = None  # on C
    slot: str | None = None  # on C
    subscription: str | None = None  # on A
    start_lsn: str | None = None  # C's position at the slot's creation
    armed_seconds: float | None = None  # inside the fence
    slot_before_fence: bool | None = None  # native mode: the publication and the slot on C were made before the fence
    would_arm: bool | None = None  # the dry run's
    problems: list[str] | None = None  # the dry run's
    disarmed: bool | None = None  # a rollback dropped what was armed
    disarm_error: str | None = None  # or could not

    def __init__(self, *, armed: bool | None = None) -> None:
        super().__init__()
        if armed is not None:
            self.armed = armed


@dataclass(frozen=True)
class RoleChange(Part):
    role: str
    change: str


@dataclass(frozen=True)
class RoleChanges(Part):
    applied: bool  # False: the dry run's, what would be changed
    changes: list[RoleChange]
    warnings: list[str]


@dataclass(frozen=True)
class PrivilegeChange(Part):
    object: str
    change: str


@dataclass(frozen=True)
class PrivilegeChanges(Part):
    applied: bool
    changes: list[PrivilegeChange]
    not_synced: list[str]


@dataclass(frozen=True)
class ViewRefresh(Part):
    view: str
    seconds: float


@dataclass(frozen=True)
class LoginProof(Part):
    role: str
    how: str
    read: str | None
    wrote: str | None
    rows_written: int
    seconds: float
