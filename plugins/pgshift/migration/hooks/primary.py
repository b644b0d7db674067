"""PrimaryHook: A, the source primary. Its fence (roles, sessions, the database's read-only default), the
fence's marker and lease (:mod:`pgshift.migration.switchover.lease`), its WAL positions, B's physical slot, the
publication,
the sequences in scope, and what logical replication will not carry (large objects, unlogged tables,
materialized views, extensions).

Each method runs one packaged SQL file and returns a :mod:`pgshift.migration.hooks.states` dataclass or a plain value.
Statements that change A run in the caller's transaction when there is one (:meth:`PgShiftHook.transaction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgshift.migration.hooks.base import MigrationHook
from pgshift.migration.hooks.states import (
    EvictedHolder,
    InstalledExtension,
    LeaseHolder,
    OtherSession,
    PhysicalSlot,
    PublicationState,
    RelationName,
    RoleState,
    SequenceState,
    SubscriberFacts,
    SyncReading,
    SyncRights,
    TerminatedSession,
    WalSender,
    row_as,
    rows_as,
)

if TYPE_CHECKING:
    from psycopg2 import sql as pgsql

    from pgshift.migration.scope import Scope

LeaseKey = tuple[int, int]  # the two int4 keys of a session-level advisory lock
# The first line of a database's comment that holds the fence marker where it cannot be a setting (Aurora).
MARKER_PREFIX = "pgshift.fence="


def _split_comment(comment: str | None) -> tuple[str | None, str | None]:
    """A database comment as (the marker if its first line is one, the rest: the DBA's own comment)."""
    if not comment or not comment.startswith(MARKER_PREFIX):
        return None, comment
    first, _, rest = comment.partition("\n")
    return first[len(MARKER_PREFIX):], rest or None


class PrimaryHook(MigrationHook):
    """A: the primary the migration reads from and fences at the cutover."""

    # -- roles and the database's settings
    def roles(self, names: Sequence[str]) -> dict[str, RoleState]:
        """The roles among ``names`` that exist, by name.

        :param names: role names
        """
        return {r.rolname: r for r in rows_as(RoleState, self.fetch("fence_roles_state", (list(names),)))}

    def role(self, name: str | None) -> RoleState | None:
        """One role's attributes, None if it does not exist.

        :param name: a role name
        """
        return row_as(RoleState, self.fetch_one("role_attributes", (name,)))

    def database_setting(self, name: str) -> str | None:
        """The current database's own value of a setting (``ALTER DATABASE … SET``), None when unset.

        :param name: the setting's name
        """
        value = self.scalar("database_setting", {"name": name})
        return None if value is None else str(value)

    def database_setting_in(self, database: str, name: str) -> tuple[bool, str | None]:
        """Another database's own value of a setting: (whether the database exists, its value or None when unset).

        :param database: a database of this server
        :param name: the setting's name
        """
        row = self.fetch_one("database_setting_in", {"name": name, "database": database})
        if row is None:
            return False, None
        return True, None if row["value"] is None else str(row["value"])

    def schemas_present(self, names: Sequence[str]) -> list[str]:
        """The schemas among ``names`` that exist, sorted.

        :param names: schema names
        """
        return [r["schema"] for r in self.fetch("schemas_present", (list(names),))]

    # -- the fence
    def role_nologin(self, role: str) -> None:
        """ALTER ROLE … NOLOGIN.

        :param role: the role to fence
        """
        self.execute("role_nologin", role=role)

    def role_login(self, role: str) -> None:
        """ALTER ROLE … LOGIN.

        :param role: the role to unfence
        """
        self.execute("role_login", role=role)

    def database_read_only_on(self, database: str) -> None:
        """New sessions of ``database`` start read-only.

        :param database: the database's name
        """
        self.execute("database_read_only_on", database=database)

    def database_read_only_reset(self, database: str) -> None:
        """Remove the database's own default_transaction_read_only.

        :param database: the database's name
        """
        self.execute("database_read_only_reset", database=database)

    def database_read_only_restore(self, database: str, value: str) -> None:
        """Set the database's own default_transaction_read_only back to an earlier value.

        :param database: the database's name
        :param value: the value it had before the fence
        """
        self.execute("database_read_only_restore", (value,), database=database)

    def session_read_write(self) -> None:
        """Make this session writable (a session opened on a fenced database starts read-only)."""
        self.execute("session_read_write")

    def terminate_sessions(self, roles: Sequence[str]) -> list[TerminatedSession]:
        """Signal every client session of ``roles`` (but this one) with pg_terminate_backend; returns at once.

        :param roles: role names
        """
        return rows_as(TerminatedSession, self.fetch("terminate_role_sessions", (list(roles),)))

    def sessions_left(self, pids: Sequence[int]) -> list[int]:
        """The backends among ``pids`` still running.

        :param pids: backend process ids
        """
        return [r["pid"] for r in self.fetch("role_sessions_left", (list(pids),))]

    def unfenced_sessions(self, roles: Sequence[str], databases: Sequence[str] = ()) -> list[OtherSession]:
        """Client sessions in ``databases`` of roles other than ``roles`` (and not this one), by database and pid.

        :param roles: the fenced roles
        :param databases: the fenced databases (empty: this connection's own)
        """
        params = {"roles": list(roles), "databases": list(databases) or [self.conn_params()["dbname"]]}
        return rows_as(OtherSession, self.fetch("unfenced_sessions", params))

    # -- the fence's marker and lease (pgshift.migration.switchover.lease)
    def fence_marker_settable(self) -> bool:
        """Whether this session may keep the marker as the setting ``pgshift.fence`` (a superuser, or GRANT SET ON
        PARAMETER); else it is kept in the database's comment (Aurora's master user, see :meth:`fence_marker_set`)."""
        return bool(self.scalar("fence_marker_settable"))

    def fence_marker(self) -> str | None:
        """The fence marker (JSON) of the current database: the setting ``pgshift.fence``, else the first line of
        the database's comment when it starts with :data:`MARKER_PREFIX`; None when there is none."""
        value = self.database_setting("pgshift.fence")
        if value is not None:
            return value
        marker, _ = _split_comment(self.scalar("database_comment"))
        return marker

    def fence_marker_set(self, database: str, marker: str) -> None:
        """Store the marker: ``ALTER DATABASE … SET pgshift.fence`` where this session may.

        A placeholder setting may be stored with a database only by a superuser or a role granted SET on it, and
        Aurora's master user is neither (nor can it grant that). There the marker is the first line of the
        database's comment (``COMMENT ON DATABASE``, which its owner may set; transactional like the setting, so
        it is still written in the fence's own transaction, and read by anyone who connects); a comment the DBA
        wrote stays below it and is what :meth:`fence_marker_reset` puts back.

        :param database: the database's name
        :param marker: the marker as JSON
        """
        if self.fence_marker_settable():
            self.execute("fence_marker_set", (marker,), database=database)
            return
        _, comment = _split_comment(self.scalar("database_comment"))
        self.execute("database_comment_set", (MARKER_PREFIX + marker + ("\n" + comment if comment else ""),),
                     database=database)

    def fence_marker_reset(self, database: str) -> None:
        """Remove the marker (setting or comment line), leaving the DBA's own comment as it was.

        :param database: the database's name
        """
        if self.fence_marker_settable():
            self.execute("fence_marker_reset", database=database)
        marker, comment = _split_comment(self.scalar("database_comment"))
        if marker is None:
            return
        if comment:
            self.execute("database_comment_set", (comment,), database=database)
        else:
            self.execute("database_comment_drop", database=database)

    def lease_take(self, key: LeaseKey) -> bool:
        """pg_try_advisory_lock in this session: False if another session holds it.

        :param key: the lock's two keys
        """
        return bool(self.scalar("fence_lease_take", key))

    def lease_release(self, key: LeaseKey) -> bool:
        """pg_advisory_unlock: False if this session did not hold it.

        :param key: the lock's two keys
        """
        return bool(self.scalar("fence_lease_release", key))

    def lease_mine(self, key: LeaseKey) -> bool:
        """Whether this session holds the lock.

        :param key: the lock's two keys
        """
        return bool(self.scalar("fence_lease_mine", key))

    def lease_evict(self, key: LeaseKey) -> list[EvictedHolder]:
        """pg_terminate_backend for each session of another role than this one's holding the lock; returns at once.

        :param key: the lock's two keys
        """
        return rows_as(EvictedHolder, self.fetch("fence_lease_evict", key))

    def lease_holder(self, key: LeaseKey) -> LeaseHolder | None:
        """The backend holding the lock, None if it is free.

        :param key: the lock's two keys
        """
        return row_as(LeaseHolder, self.fetch_one("fence_lease_holder", key))

    # -- WAL
    def current_wal_lsn(self) -> str:
        """pg_current_wal_lsn(): what A has written."""
        return str(self.scalar("current_wal_lsn"))

    def final_wal_lsn(self) -> str:
        """pg_current_wal_insert_lsn(): every record inserted so far, written or not (the fence's final LSN)."""
        return str(self.scalar("final_wal_lsn"))

    def log_standby_snapshot(self) -> str:
        """pg_log_standby_snapshot(): a running-xacts record, which logical decoding on B waits for."""
        return str(self.scalar("log_standby_snapshot"))

    # -- B's physical slot
    def physical_slot(self, name: str) -> PhysicalSlot | None:
        """A replication slot by name (of any type), None if there is none.

        :param name: the slot's name
        """
        return row_as(PhysicalSlot, self.fetch_one("physical_slot", (name,)))

    def create_physical_slot(self, name: str) -> str:
        """Create a physical slot that reserves WAL at once; returns its name.

        :param name: the slot's name
        """
        return str(self.scalar("create_physical_slot", (name,)))

    def wal_sender(self, slot: str) -> WalSender | None:
        """Physical slot ``slot`` with the walsender using it (its fields None when none does) and the lag
        behind A's current position; None if there is no such physical slot.

        :param slot: the physical slot's name
        """
        return row_as(WalSender, self.fetch_one("wal_sender_for_slot", (slot,)))

    # -- B as a synchronous standby (pgshift.migration.sync)
    def sync_rights(self) -> SyncRights:
        """Whether this role may set synchronous_standby_names (ALTER SYSTEM) and reload the configuration."""
        row = row_as(SyncRights, self.fetch_one("sync_rights"))
        if row is None:  # a SELECT of expressions: one row always
            raise LookupError("A returned no rights row")
        return row

    def set_synchronous_standby_names(self, value: str) -> None:
        """ALTER SYSTEM SET synchronous_standby_names, then pg_reload_conf(): commits waiting for a standby the new
        value does not name are released at once.

        :param value: the setting's text ('' makes A asynchronous)
        """
        self.execute("sync_standby_names_set", (value,))
        self.reload_conf()

    def sync_reading(self, standby: str) -> SyncReading:
        """The names A's commits wait for and B's walsender, by B's application_name.

        :param standby: the application_name B's WAL receiver connects with
        """
        row = row_as(SyncReading, self.fetch_one("sync_reading", (standby,)))
        if row is None:  # one row always: the walsender is LEFT JOINed to a constant
            raise LookupError("A returned no synchronous reading")
        return row

    # -- the publication and sequences
    def publication(self, name: str) -> PublicationState | None:
        """A publication, None if there is none.

        :param name: the publication's name
        """
        return row_as(PublicationState, self.fetch_one("publication_state", (name,)))

    def create_publication(self, name: str, objects: pgsql.Composable) -> None:
        """CREATE PUBLICATION ``name`` FOR ``objects``.

        :param name: the publication's name
        :param objects: what it publishes (:meth:`pgshift.migration.scope.Scope.publication_objects`)
        """
        self.execute("create_publication", publication=name, objects=objects)

    def sequences(self, scope: Scope) -> list[SequenceState]:
        """Sequences in a schema in scope or owned by a table in scope, with their last values.

        :param scope: the migration's schemas and tables
        """
        params = scope.query_params("public")
        return rows_as(SequenceState, self.fetch("sequences_in_scope",
                                                 {k: params[k] for k in ("all", "schemas", "tschemas", "tnames")}))

    # -- what logical replication does not carry (the preflight names it)
    def subscriber_facts(self, subscription: str) -> SubscriberFacts:
        """Whether A can take the way back's subscription (workers, replication origins, who may own it), and
        whether one of that name is already there.

        :param subscription: the way back's subscription name
        """
        row = row_as(SubscriberFacts, self.fetch_one("subscriber_facts", (subscription,)))
        if row is None:  # a SELECT of expressions: one row always
            raise LookupError("A returned no subscriber facts")
        return row

    def large_object_count(self) -> int:
        """The large objects in this database (``pg_largeobject_metadata``)."""
        return int(self.scalar("large_object_count") or 0)

    def unlogged_tables(self, scope: Scope) -> list[RelationName]:
        """Unlogged tables in scope, and unlogged partitions of partitioned tables in scope, by schema and name.

        :param scope: the migration's schemas and tables
        """
        params = scope.query_params("public")
        return rows_as(RelationName, self.fetch("unlogged_tables_in_scope",
                                                {k: params[k] for k in ("all", "schemas", "tschemas", "tnames")}))

    def materialized_views(self, scope: Scope) -> list[RelationName]:
        """Materialized views in the schemas in scope (every user schema when all tables are), by schema and name.

        :param scope: the migration's schemas and tables
        """
        params = scope.query_params("public")
        return rows_as(RelationName, self.fetch("materialized_views_in_scope",
                                                {k: params[k] for k in ("all", "schemas")}))

    def extensions(self) -> list[InstalledExtension]:
        """The extensions installed in this database but plpgsql, by name."""
        return rows_as(InstalledExtension, self.fetch("extensions_installed"))
