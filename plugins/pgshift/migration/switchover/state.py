"""The vocabulary of a switchover: the fence's states, the timeline's events, and the two directions."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


def iso(ts: float | None) -> str | None:
    """A report's time: ISO 8601 UTC to the millisecond (None stays None)."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds") if ts else None


class FenceState(StrEnum):
    """One vocabulary for the fence, in the marker on the fenced server and in the run's fence record.

    ``planned`` (record only: written before the fence is applied) -> ``fenced`` -> ``committed`` (the point of no
    return: nothing lifts the fence automatically any more) -> ``ready`` (the other side is the primary; this one
    stays fenced on purpose). ``lifted`` (record only): the fence was undone, and the marker removed with it.
    """

    PLANNED = "planned"
    FENCED = "fenced"
    COMMITTED = "committed"
    READY = "ready"
    LIFTED = "lifted"

    @classmethod
    def parse(cls, value: str) -> FenceState:
        """A state read back from a marker or a record; ``finalized`` is what records said before ``ready``."""
        return cls.READY if value == "finalized" else cls(value)


class Outcome(StrEnum):
    """A switchover report's ``status``."""

    READY = "ready"  # the cutover: C is the primary
    FALLEN_BACK = "fallen back"  # the fallback: A is the primary again
    DRY_RUN_PASSED = "dry run passed"
    ROLLED_BACK = "rolled back"  # failed after the fence, which was lifted (or, past the commit, kept: see the error)
    FAILED = "failed"  # failed before the fence: nothing was changed
    COMMITTED = "committed"  # several databases: failed past the commit point; the source stays fenced, a retry
    # of the task finishes every database (see pgshift.migration.switchover.cutover.several)


class Event(StrEnum):
    """What the timeline of a report records, in the cutover's names (the fallback renames some, see
    :attr:`Direction.names`)."""

    FENCED = "fenced"
    SESSIONS_ENDED = "sessions_ended"
    FINAL_LSN_TAKEN = "final_lsn_taken"
    TARGET_LSN_TAKEN = "target_lsn_taken"
    B_REPLAYED = "b_replayed"
    DRAINED = "drained"
    PRE_VERIFIED = "pre_verified"
    ACCESS_SYNCED = "access_synced"
    VERIFIED = "verified"
    SEQUENCES_SET = "sequences_set"
    ACCESS_VERIFIED = "access_verified"
    LOGIN_PROVEN = "login_proven"
    FALLBACK_ARMED = "fallback_armed"
    COMMITTED = "committed"
    FINALIZED = "finalized"
    REVERSE_DROPPED = "reverse_dropped"
    A_UNFENCED = "a_unfenced"
    LOGIN_OPENED = "login_opened"
    READY = "ready"
    UNFENCED = "unfenced"


@dataclass(frozen=True)
class Direction:
    """Which way a switchover goes: ``source`` is the side it fences, ``target`` the one that becomes the primary."""

    action: str  # the DAG's action: cutover | fallback
    source: str  # A | C
    target: str  # C | A
    rivals: str  # who else takes the source's lease
    untouched: str  # what a refusal before the fence says was left alone
    lsn_key: str  # the report's key for the source's final LSN
    through_b: bool  # the drain waits for B's replay too
    names: dict[Event, str] = field(default_factory=dict)  # the report's name of an event, where it differs

    def name(self, event: Event) -> str:
        return self.names.get(event, event.value)

    @property
    def title(self) -> str:
        return self.action.capitalize()


CUTOVER = Direction("cutover", "A", "C", rivals="cutover", untouched="A was not touched", lsn_key="final_lsn",
                    through_b=True)
FALLBACK = Direction("fallback", "C", "A", rivals="fallback or finish", untouched="nothing was changed",
                     lsn_key="c_final_lsn", through_b=False, names={
    Event.FENCED: "c_fenced", Event.SESSIONS_ENDED: "c_sessions_ended", Event.FINAL_LSN_TAKEN: "c_final_lsn_taken",
    Event.DRAINED: "a_drained", Event.UNFENCED: "c_unfenced"})


class Timeline:
    """The report's timeline: events in the order they happened, each at an ISO time, under the direction's names."""

    def __init__(self, events: MutableMapping[str, str | None], direction: Direction) -> None:
        self.events, self.direction = events, direction

    def mark(self, event: Event, at: float | None) -> None:
        self.events[self.direction.name(event)] = iso(at)

    def __contains__(self, event: Event) -> bool:
        return self.direction.name(event) in self.events
