"""Fencing a switchover's source (A for the cutover, C for the fallback), and lifting the fence again.

The fence: the application roles lose LOGIN and the database defaults to read-only transactions
(one transaction), then the roles' sessions are terminated. Superusers ignore both, so fencing a
superuser (or the role Airflow itself uses, or a replication role) is refused.

What the fence changed is recorded in a :class:`FenceRecord` before it is applied, so it can be
undone exactly: only roles that had LOGIN get it back, and the database setting returns to what it
was (unset, or its earlier value). The same facts go to A itself, in the fence's own transaction, as
the fence marker that the lease and the watchdog rely on (:mod:`pgshift.migration.switchover.lease`).

**Several databases, one fence** (a chain with ``databases``): the fence is still one transaction in one session,
the *home* database's (the one the source's connection names, where the lease and the marker live). Roles are the
server's, so they lose LOGIN once; ``ALTER DATABASE … SET default_transaction_read_only`` may name any database of
the server, so every migrated database is made read-only in that same transaction, each one's earlier value
recorded (:attr:`FenceRecord.databases`, and the marker's ``databases``) so the lift restores each exactly.
``pg_terminate_backend`` reaches a role's sessions in every database, and the WAL is the server's: one final LSN.
The home database is fenced only if it is one of the migrated ones. A record or marker an earlier pgshift wrote
has no ``databases``: it fenced its one ``database`` (``previous_read_only``), and that is what it lifts.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgshift.common.report import write_json
from pgshift.common.validation import identifier_problem
from pgshift.migration.switchover.lease import FenceMarker, read_marker, write_marker
from pgshift.migration.switchover.state import FenceState

if TYPE_CHECKING:
    from pgshift.migration.hooks.primary import PrimaryHook


@dataclass
class FenceRecord:
    database: str  # the home database: the source connection's, where the lease and the marker are
    roles: list[str]  # roles the fence took LOGIN from (those that had it)
    previous_read_only: str | None  # the home database's default_transaction_read_only before the fence
    state: FenceState = FenceState.PLANNED
    fenced_at: float | None = None
    terminated_at: float | None = None
    final_lsn: str | None = None
    final_lsn_at: float | None = None
    terminated: list[dict[str, Any]] = field(default_factory=list)
    unfenced_sessions: list[dict[str, Any]] = field(default_factory=list)
    run_id: str = ""
    lifted_by: str | None = None
    # Every database the fence made read-only -> its own default_transaction_read_only before (None: unset). Empty
    # in a record an earlier pgshift wrote: that one fenced ``database`` alone (see :meth:`read_only_before`).
    databases: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = FenceState.parse(self.state)

    def read_only_before(self) -> dict[str, str | None]:
        """The databases this fence makes (made) read-only, each with the value to restore."""
        return dict(self.databases) if self.databases else {self.database: self.previous_read_only}

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> FenceRecord | None:
        if not path.is_file():
            return None
        known = {f.name for f in fields(cls)}  # a newer pgshift's key is not a reason to leave a fence up
        return cls(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})

    @classmethod
    def from_marker(cls, database: str, marker: FenceMarker) -> FenceRecord:
        """What a fence marker on A says is needed to lift that fence exactly."""
        return cls(database=database, roles=list(marker.roles), previous_read_only=marker.previous_read_only,
                   state=marker.state, fenced_at=marker.fenced_at, run_id=marker.run_id,
                   databases=dict(marker.databases))


def fence_problems(a: PrimaryHook, roles: list[str], protected: dict[str, str], server: str = "A",
                   databases: list[str] | None = None) -> list[str]:
    """Why these roles cannot be fenced (read-only). ``protected`` maps role -> why it must keep LOGIN; ``server``
    names the server in the messages (C when the fallback fences C); ``databases`` are the databases to fence
    (default: ``a``'s own), each of which must exist and not default to read-only already."""
    problems = []
    if not roles:
        return ["app_roles is empty: name the application roles to fence on A (they lose LOGIN for the cutover)"]
    for role in roles:
        if p := identifier_problem(role, f"app_roles: {role!r}"):
            problems.append(p)
    if problems:
        return problems
    found = a.roles(roles)
    for role in roles:
        r = found.get(role)
        if r is None:
            problems.append(f"app_roles: role {role!r} does not exist on {server}")
        elif r.rolsuper:
            problems.append(f"app_roles: {role!r} is a superuser: superusers ignore NOLOGIN's effect on open "
                            "sessions and read-only defaults, so it cannot be fenced; connect the application "
                            "with an ordinary role")
        elif role in protected:
            problems.append(f"app_roles: {role!r} is {protected[role]}: fencing it would break the migration itself")
        elif r.rolreplication:
            problems.append(f"app_roles: {role!r} has REPLICATION: it may be B's or C's replication role")
        elif not r.rolcanlogin:
            problems.append(f"app_roles: {role!r} cannot log in already (NOLOGIN): is A still fenced by an earlier "
                            f"cutover? If so, lift it by hand: ALTER ROLE {role} LOGIN")
    for database, (exists, read_only) in _read_only_defaults(a, databases).items():
        if not exists:
            problems.append(f"database {database!r} is not on {server} (any more): it was set up for this chain; "
                            "take it out of databases, or restore it")
        elif read_only is not None and read_only.lower() in ("on", "true", "1", "yes"):
            problems.append(f"database {database!r} on {server} already defaults to read-only transactions: is it "
                            f"still fenced by an earlier cutover? If so: ALTER DATABASE {database} RESET "
                            "default_transaction_read_only")
    return problems


def _read_only_defaults(a: PrimaryHook, databases: list[str] | None) -> dict[str, tuple[bool, str | None]]:
    """Each database's (exists, own default_transaction_read_only); ``None``: ``a``'s own database, read as before."""
    if not databases:
        return {a.conn_params()["dbname"]: (True, read_only_default(a))}
    return {db: a.database_setting_in(db, "default_transaction_read_only") for db in databases}


def read_only_default(a: PrimaryHook) -> str | None:
    """The database's own default_transaction_read_only on A (None: not set), which the fence changes."""
    return a.database_setting("default_transaction_read_only")


def plan_fence(a: PrimaryHook, roles: list[str], run_id: str = "", databases: list[str] | None = None) -> FenceRecord:
    """What the fence will change, read before it changes it: the roles that have LOGIN, and each database's
    read-only default (``databases``, default ``a``'s own database)."""
    state = a.roles(roles)
    home = a.conn_params()["dbname"]
    before = {db: value for db, (_, value) in _read_only_defaults(a, databases).items()}
    return FenceRecord(database=home, roles=[r for r in roles if state[r].rolcanlogin],
                       previous_read_only=before.get(home), run_id=run_id, databases=before)


class FenceError(Exception):
    """The fence could not be completed (it is then lifted by the caller)."""


def apply_fence(a: PrimaryHook, record: FenceRecord, all_roles: list[str], exit_timeout: float = 5.0,
                by: str = "cutover") -> FenceRecord:
    """NOLOGIN + read-only default in one transaction, then terminate the roles' sessions and take the
    final LSN. Returns the record with the fence time and A's final LSN filled in."""
    with a.transaction():
        for role in record.roles:
            a.role_nologin(role)
        for database in record.read_only_before():
            a.database_read_only_on(database)
        marker = FenceMarker(run_id=record.run_id, state=FenceState.PLANNED, roles=record.roles,
                             previous_read_only=record.previous_read_only, fenced_at=time.time(),
                             databases=record.read_only_before())
        write_marker(a, record.database, marker, FenceState.FENCED, by)
    record.fenced_at = time.time()
    record.state = FenceState.FENCED
    # Sessions of every named role, even one that had no LOGIN (it may have been connected before).
    # All are signalled at once, then awaited: pg_terminate_backend(pid, timeout) one by one would cost
    # about 0.1 s per session of downtime.
    terminated = a.terminate_sessions(all_roles)
    record.terminated = [asdict(s) for s in terminated]
    pids = [s.pid for s in terminated]
    deadline = time.monotonic() + exit_timeout
    while pids and (left := a.sessions_left(pids)):
        if time.monotonic() > deadline:
            raise FenceError(f"sessions {left} of {', '.join(all_roles)} did not exit within {exit_timeout:g} s of "
                             "pg_terminate_backend: they could still commit, so there is no final LSN")
        time.sleep(0.005)
    record.terminated_at = time.time()
    # Only now: no session of the roles is left to commit after this position.
    record.final_lsn = a.final_wal_lsn()
    record.final_lsn_at = time.time()
    # In every fenced database: a chain of several databases is one fence, its report names each one's sessions.
    record.unfenced_sessions = [asdict(s) for s in a.unfenced_sessions(all_roles, list(record.read_only_before()))]
    return record


def lift_fence(a: PrimaryHook, record: FenceRecord, by: str = "cutover rollback") -> None:
    """Undo exactly what the fence changed (every database it made read-only), and remove A's fence marker; safe to
    call twice."""
    # A session opened after the fence starts read-only: make this one writable first.
    a.session_read_write()
    with a.transaction():
        for role in record.roles:
            a.role_login(role)
        for database, previous in record.read_only_before().items():
            if previous is None:
                a.database_read_only_reset(database)
            else:
                a.database_read_only_restore(database, previous)
        marker = read_marker(a)
        if marker and marker.run_id == record.run_id:
            # Gone with the fence: A is left exactly as before the cutover (the task's log and report, and the
            # watchdog's alert, say who lifted it and when).
            a.fence_marker_reset(record.database)
    record.state = FenceState.LIFTED
    record.lifted_by = by
