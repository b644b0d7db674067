"""What each phase of the cutover did (see :mod:`pgshift.migration.switchover.cutover.phases`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgshift.migration.scope import Scope
    from pgshift.migration.switchover.lease import FenceMarker
    from pgshift.migration.verify.parity import Table, TableParity


def iso(ts: float | None) -> str | None:
    """A report's time: ISO 8601 UTC to the millisecond (None stays None)."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds") if ts else None


@dataclass(frozen=True)
class GateReading:
    figures: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """What the cutover compares and sets, read from A's catalog before the fence (no downtime spent)."""

    scope: Scope
    tables: list[Table]
    methods: Mapping[Table, str]  # hash method per table, see :func:`pgshift.migration.verify.parity.hash_methods`
    materialized_views: tuple[tuple[str, str], ...] = ()  # in scope on A: refreshed on C after the data


@dataclass(frozen=True)
class Fenced:
    final_lsn: str  # A's position once no session of the fenced roles was left
    fenced_at: float
    terminated: list[dict[str, Any]]
    unfenced_sessions: list[dict[str, Any]]


@dataclass(frozen=True)
class Target:
    """The dry run's stand-in for the fence: A's position now, while it takes writes."""

    lsn: str
    taken_at: float


@dataclass(frozen=True)
class Drained:
    lsn: str
    replayed_at: float | None
    confirmed_at: float


@dataclass(frozen=True)
class Verified:
    tables: list[TableParity]
    at: float


@dataclass(frozen=True)
class SequencesSet:
    sequences: list[dict[str, Any]]
    at: float


@dataclass(frozen=True)
class Committed:
    marker: FenceMarker  # A's fence marker, now ``committed``
    at: float


@dataclass(frozen=True)
class Finalized:
    at: float


@dataclass(frozen=True)
class Ready:
    at: float
    write_downtime_seconds: float | None


@dataclass(frozen=True)
class AccessSynced:
    role_changes: int
    privilege_changes: int
    at: float


@dataclass(frozen=True)
class AccessVerified:
    checked: Mapping[str, int]  # role -> (object, privilege) pairs compared
    at: float


@dataclass(frozen=True)
class LoginOpened:
    roles: tuple[str, ...]
    at: float


@dataclass(frozen=True)
class LoginProven:
    roles: tuple[str, ...]
    at: float
