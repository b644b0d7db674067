"""TargetHook: C, the target (Aurora, or any PostgreSQL). Its subscription to B, the tables already there,
the sequences the cutover sets, and the extensions it has or could install.

Each method runs one packaged SQL file and returns a :mod:`pgshift.migration.hooks.states` dataclass or a plain value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from psycopg2 import sql as pgsql

from pgshift.common.sql import compose, qualified
from pgshift.migration.access.privileges_states import (
    DEFAULT_OBJTYPES,
    OBJECT_KINDS,
    PRIVILEGES,
    PUBLIC,
    RLS_ACTIONS,
    ROUTINE_KINDS,
    ObjectName,
)
from pgshift.migration.hooks.base import MigrationHook
from pgshift.migration.hooks.states import (
    ATTRIBUTE_KEYWORDS,
    AppProbe,
    AvailableExtension,
    PublisherFacts,
    ReplicationRole,
    RoleSetting,
    SequenceValue,
    SlotState,
    TargetRoleRights,
    row_as,
    rows_as,
)

if TYPE_CHECKING:
    from pgshift.migration.scope import Scope


class TargetHook(MigrationHook):
    """C: the server the migration copies to and the application moves to."""

    # -- the subscription (its state: PgShiftHook.subscription, apply_worker)
    def create_subscription(self, name: str, publication: str, conninfo: str, slot: str, *,
                            copy_data: bool = True) -> None:
        """CREATE SUBSCRIPTION on an existing slot (create_slot = false).

        :param name: the subscription's name
        :param publication: the publication it subscribes to
        :param conninfo: the libpq connection string to the publisher (holds a password: never logged)
        :param slot: the existing logical slot on the publisher's side
        :param copy_data: whether its table-sync workers copy the tables' rows first (False: the parallel initial
            copy put them there, as of the slot's confirmed position)
        """
        self.execute("create_subscription", {"conninfo": conninfo, "slot": slot, "copy_data": copy_data},
                     subscription=name, publication=publication)

    def refresh_subscription(self, name: str) -> None:
        """ALTER SUBSCRIPTION ... REFRESH PUBLICATION: the publication's tables the subscription lacks are added,
        their rows copied.

        :param name: the subscription's name
        """
        self.execute("subscription_refresh", subscription=name)

    def drop_subscription(self, name: str) -> None:
        """DROP SUBSCRIPTION (which drops its slot on the publisher's side too).

        :param name: the subscription's name
        """
        self.execute("drop_subscription", subscription=name)

    def other_sessions(self, since: float) -> list[dict[str, Any]]:
        """Client sessions on C that are not pgshift's and were busy since ``since`` (or write now).

        :param since: a time, in epoch seconds
        """
        return [dict(r) for r in self.fetch("other_sessions", {"since": since})]

    # -- the way back (C -> A), after the cutover
    def reverse_slot(self, name: str, lsn: str | None = None) -> SlotState | None:
        """The way back's slot on C with A's lag behind C's current WAL position; None if there is none.

        :param name: the slot's name (``fallback_subscription_name``)
        :param lsn: a position of C to compare A's confirmation with (``confirmed``)
        """
        return self.slot_state(name, "current", lsn)

    def publisher_facts(self, slot: str, publication: str) -> PublisherFacts:
        """Whether C can publish to A (wal_level, a free slot and walsender), and whether the way back's slot and
        publication are already there.

        :param slot: the way back's slot name
        :param publication: the way back's publication name
        """
        row = row_as(PublisherFacts, self.fetch_one("publisher_facts", {"slot": slot, "publication": publication}))
        if row is None:  # a SELECT of expressions: one row always
            raise LookupError("C returned no publisher facts")
        return row

    def replication_role(self, name: str | None) -> ReplicationRole | None:
        """A role's right to stream from C (REPLICATION, superuser, or rds_replication); None if it does not exist.

        :param name: a role name
        """
        return row_as(ReplicationRole, self.fetch_one("replication_role", (name,)))

    def role_rights(self, schemas: Sequence[str] = (), roles: Sequence[str] = ()) -> TargetRoleRights:
        """What this session's role (pgshift's on C) holds of what the chain needs on C, superuser or not: the
        reading preflight refuses a C on, naming the GRANT for each right missing (see :class:`TargetRoleRights`).

        :param schemas: schemas the schema copy creates tables in (those that exist are checked for CREATE)
        :param roles: roles the chain migrates (those that exist are checked for ADMIN OPTION)
        """
        row = row_as(TargetRoleRights, self.fetch_one("target_role_rights",
                                                      {"schemas": list(schemas), "roles": list(roles)}))
        if row is None:  # current_user is always in pg_roles
            raise LookupError("C returned no row for the current role")
        return row

    def flush_wal(self) -> None:
        """A synchronous empty commit: what the subscription applied so far is flushed, and confirmed."""
        self.execute("flush_wal")

    # -- the application's roles (the cutover's login proof)
    def current_role(self) -> str:
        """The role this session acts as: the one its connection logs in with."""
        return str(self.scalar("current_role"))

    def is_superuser(self) -> bool:
        """Whether the role this session logged in with is a superuser (not on Aurora)."""
        return bool(self.scalar("current_role_superuser"))

    def probe_app_role(self, role: str | None, scope: Scope) -> AppProbe:
        """As ``role`` (``SET LOCAL ROLE``; None: as this session's own role), read one table in ``scope`` and
        rewrite one row of a table it may update, in a transaction that is always rolled back.

        :param role: the application role to act as, or None to act as the role this connection logged in with
        :param scope: the migrated tables, among which the tables are chosen
        """
        with self.rolled_back():
            if role is not None:
                self.execute("set_local_role", role=role)
            targets = self.fetch_one("app_probe_targets", {**scope.query_params(""), "role": None})
            read, write = (targets or {}).get("read_target"), (targets or {}).get("write_target")
            if read:
                self.scalar("app_probe_read", table=qualified(read[0], read[1]))
            written = 0
            if write:
                written = int(self.scalar("app_probe_write", table=qualified(write[0], write[1]), column=write[2]))
        return AppProbe(".".join(read) if read else None, ".".join(write) if write else None, written)

    def refresh_materialized_view(self, schema: str, name: str) -> None:
        """REFRESH MATERIALIZED VIEW, from the data now on C.

        :param schema: the view's schema
        :param name: the view's name
        """
        self.execute("materialized_view_refresh", matview=qualified(schema, name))

    # -- extensions
    def extensions_available(self, names: Sequence[str]) -> list[AvailableExtension]:
        """The extensions among ``names`` this server could install, with the version it has installed if any.

        :param names: extension names
        """
        return rows_as(AvailableExtension, self.fetch("extensions_available", (list(names),)))

    # -- tables and sequences
    def tables_present(self, tables: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The tables among ``tables`` that exist, sorted.

        :param tables: ``(schema, name)`` pairs
        """
        rows = self.fetch("tables_present", {"tschemas": [s for s, _ in tables], "tnames": [t for _, t in tables]})
        return [(r["schema"], r["table"]) for r in rows]

    def tables_with_rows(self, tables: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The tables among ``tables`` that hold any row.

        :param tables: ``(schema, name)`` pairs that exist
        """
        return [t for t in tables if self.scalar("table_has_rows", table=qualified(*t))]

    def truncate(self, tables: Sequence[tuple[str, str]]) -> None:
        """TRUNCATE ``tables`` in one statement (references among them do not stop it).

        :param tables: ``(schema, name)`` pairs
        """
        self.execute("initial_copy_truncate", tables=pgsql.SQL(", ").join(qualified(*t) for t in tables))

    def sequence_value(self, schema: str, name: str) -> SequenceValue | None:
        """A sequence's last value; None if there is no such sequence.

        :param schema: the sequence's schema
        :param name: the sequence's name
        """
        return row_as(SequenceValue, self.fetch_one("sequence_exists", (schema, name)))

    def setval(self, schema: str, name: str, value: str) -> str:
        """setval to ``value``, or leave a sequence that is already further; returns its value after.

        :param schema: the sequence's schema
        :param name: the sequence's name
        :param value: the value to set (A's last value, as text)
        """
        regclass = qualified(schema, name).as_string(self.live)
        return str(self.scalar("sequence_setval", {"seq": regclass, "value": value, "schema": schema, "name": name}))

    # -- roles (see pgshift.migration.access.roles); statements run in the caller's transaction when there is one
    def create_role(self, role: str, attributes: Sequence[str]) -> None:
        """CREATE ROLE with attribute keywords.

        :param role: the new role's name
        :param attributes: keywords from :data:`~pgshift.migration.hooks.states.ATTRIBUTE_KEYWORDS` (``NOLOGIN``,
        ``CREATEDB``...)
        """
        self.execute("role_create", role=role, attributes=_keywords(attributes))

    def alter_role(self, role: str, attributes: Sequence[str]) -> None:
        """ALTER ROLE with attribute keywords.

        :param role: the role
        :param attributes: keywords from :data:`~pgshift.migration.hooks.states.ATTRIBUTE_KEYWORDS` (``LOGIN``,
        ``NOCREATEDB``...)
        """
        self.execute("role_alter", role=role, attributes=_keywords(attributes))

    def set_role_login(self, role: str, login: bool) -> None:
        """ALTER ROLE … LOGIN or NOLOGIN.

        :param role: the role
        :param login: whether the role may log in
        """
        self.execute("role_login" if login else "role_nologin", role=role)

    def set_role_password(self, role: str, verifier: str | None) -> None:
        """ALTER ROLE … PASSWORD with a verifier, stored as given (never logged).

        :param role: the role
        :param verifier: a SCRAM or md5 verifier read from pg_authid, None for no password
        """
        self.execute("role_password", {"verifier": verifier}, role=role)

    def set_role_connection_limit(self, role: str, limit: int) -> None:
        """ALTER ROLE … CONNECTION LIMIT.

        :param role: the role
        :param limit: the most concurrent connections, -1 for no limit
        """
        self.execute("role_connection_limit", {"connection_limit": limit}, role=role)

    def set_role_valid_until(self, role: str, valid_until: str | None) -> None:
        """ALTER ROLE … VALID UNTIL.

        :param role: the role
        :param valid_until: a timestamp with time zone as text, None for no end (``infinity``)
        """
        self.execute("role_valid_until", {"valid_until": valid_until or "infinity"}, role=role)

    def set_role_setting(self, role: str, setting: RoleSetting) -> None:
        """ALTER ROLE … [IN DATABASE <its database>] SET name FROM CURRENT, the value staged with set_config first
        (parsed as postgresql.conf would, lists included) and this transaction's own value put back after.

        :param role: the role's name
        :param setting: the setting, in every database or in one (which need not be this connection's)
        """
        name = pgsql.Identifier(*setting.name.split("."))
        saved = self.scalar("role_setting_stage", {"name": setting.name, "value": setting.value})
        if setting.database:
            self.execute("role_setting_set_in_database", role=role, setting=name, database=setting.database)
        else:
            self.execute("role_setting_set", role=role, setting=name)
        self.execute("role_setting_restore", {"name": setting.name, "value": saved or ""})

    def reset_role_setting(self, role: str, setting: RoleSetting) -> None:
        """ALTER ROLE … [IN DATABASE <its database>] RESET name.

        :param role: the role's name
        :param setting: the setting to remove
        """
        name = pgsql.Identifier(*setting.name.split("."))
        if setting.database:
            self.execute("role_setting_reset_in_database", role=role, setting=name, database=setting.database)
        else:
            self.execute("role_setting_reset", role=role, setting=name)

    def grant_membership(self, group: str, member: str, *, admin: bool, inherit: bool, set_: bool) -> None:
        """GRANT group TO member WITH ADMIN, INHERIT, SET (PostgreSQL 16's options).

        :param group: the group role
        :param member: the member role
        :param admin: whether the member may grant the group to others
        :param inherit: whether the member has the group's privileges without SET ROLE
        :param set_: whether the member may SET ROLE to the group
        """
        self.execute("role_grant_membership", {"admin": admin, "inherit": inherit, "set": set_},
                     group=group, member=member)

    def revoke_membership(self, group: str, member: str, grantor: str | None) -> None:
        """REVOKE group FROM member GRANTED BY grantor: one grantor's grant.

        :param group: the group role
        :param member: the member role
        :param grantor: the role that made the grant, None for the current user
        """
        self.execute("role_revoke_membership", group=group, member=member,
                     grantor=pgsql.Identifier(grantor) if grantor else pgsql.SQL("CURRENT_USER"))

    # -- ownership and privileges (see pgshift.migration.access.privileges). Keywords come only from the whitelists of
    # pgshift.migration.access.privileges_states, checked here; names are bound as identifiers.
    def set_owner(self, kind: str, target: ObjectName, owner: str) -> None:
        """ALTER <kind> ... OWNER TO ``owner``.

        :param kind: an object kind of ``OBJECT_KINDS`` (``table``, ``function``, ...)
        :param target: the object
        :param owner: the new owner
        """
        self.execute("access_set_owner", kind=_keyword(OBJECT_KINDS[kind][0]), target=_target(kind, target),
                     owner=owner)

    def grant_privileges(self, kind: str, target: ObjectName, privileges: Sequence[str], grantee: str, *,
                         grantable: bool = False, column: str | None = None) -> None:
        """GRANT ``privileges`` (on ``column`` only, if given) ON <kind> ... TO ``grantee`` [WITH GRANT OPTION].

        :param kind: an object kind of ``OBJECT_KINDS``
        :param target: the object
        :param privileges: privilege names of ``PRIVILEGES``
        :param grantee: a role, or ``PUBLIC``
        :param grantable: WITH GRANT OPTION
        :param column: a column of the table
        """
        self.execute("access_grant_grantable" if grantable else "access_grant",
                     privileges=_privileges(privileges, column), kind=_keyword(OBJECT_KINDS[kind][1]),
                     target=_target(kind, target), grantee=_grantee(grantee))

    def revoke_privileges(self, kind: str, target: ObjectName, privileges: Sequence[str], grantee: str, *,
                          grant_option_only: bool = False, column: str | None = None) -> None:
        """REVOKE [GRANT OPTION FOR] ``privileges`` (on ``column`` only, if given) ON <kind> ... FROM ``grantee``.

        :param kind: an object kind of ``OBJECT_KINDS``
        :param target: the object
        :param privileges: privilege names of ``PRIVILEGES`` (``ALL`` for every one)
        :param grantee: a role, or ``PUBLIC``
        :param grant_option_only: revoke only the right to grant them on
        :param column: a column of the table
        """
        self.execute("access_revoke_grant_option" if grant_option_only else "access_revoke",
                     privileges=_privileges(privileges, column), kind=_keyword(OBJECT_KINDS[kind][1]),
                     target=_target(kind, target), grantee=_grantee(grantee))

    def set_row_level_security(self, target: ObjectName, action: str) -> None:
        """ALTER TABLE ... ENABLE | DISABLE | FORCE | NO FORCE ROW LEVEL SECURITY.

        :param target: the table
        :param action: one of ``RLS_ACTIONS``
        """
        if action not in RLS_ACTIONS:
            raise ValueError(f"not a row level security action: {action!r}")
        self.execute("access_table_rls", target=qualified(target.schema, target.name), action=pgsql.SQL(action))

    def alter_default_privileges(self, role: str, schema: str, objtype: str, privileges: Sequence[str],
                                 grantee: str, *, revoke: bool = False, grant_option: bool = False) -> None:
        """ALTER DEFAULT PRIVILEGES FOR ROLE ``role`` [IN SCHEMA ``schema``] GRANT/REVOKE ... ON ``objtype``.

        :param role: the role whose future objects it concerns
        :param schema: the schema, or "" for every schema
        :param objtype: one of ``DEFAULT_OBJTYPES`` (``tables``, ``sequences``, ...)
        :param privileges: privilege names of ``PRIVILEGES``
        :param grantee: a role, or ``PUBLIC``
        :param revoke: REVOKE instead of GRANT
        :param grant_option: with GRANT: WITH GRANT OPTION; with REVOKE: only GRANT OPTION FOR
        """
        if objtype not in DEFAULT_OBJTYPES:
            raise ValueError(f"not a default privileges object type: {objtype!r}")
        name = {(False, False): "access_default_grant", (False, True): "access_default_grant_grantable",
                (True, False): "access_default_revoke", (True, True): "access_default_revoke_grant_option"}
        in_schema = compose("access_in_schema", self.sql_package, schema=schema) if schema else pgsql.SQL("")
        self.execute(name[(revoke, grant_option)], role=role, in_schema=in_schema,
                     privileges=_privileges(privileges, None), objtype=_keyword(objtype.upper()),
                     grantee=_grantee(grantee))


def _keywords(attributes: Sequence[str]) -> pgsql.Composable:
    """Role attribute keywords joined by spaces, each checked against the whitelist (keywords cannot be bound)."""
    unknown = sorted(set(attributes) - ATTRIBUTE_KEYWORDS)
    if unknown or not attributes:
        raise ValueError(f"role attributes must be among {sorted(ATTRIBUTE_KEYWORDS)}, got {list(attributes)}")
    return pgsql.SQL(" ").join(pgsql.SQL(k) for k in attributes)



def _keyword(word: str) -> pgsql.Composable:
    """An object kind keyword, only from the whitelists."""
    if word not in {k for pair in OBJECT_KINDS.values() for k in pair} | {t.upper() for t in DEFAULT_OBJTYPES}:
        raise ValueError(f"not an object kind keyword: {word!r}")
    return pgsql.SQL(word)


def _privileges(privileges: Sequence[str], column: str | None) -> pgsql.Composable:
    unknown = [p for p in privileges if p not in PRIVILEGES]
    if unknown or not privileges:
        raise ValueError(f"not privilege names: {unknown or 'none given'}")
    col = pgsql.SQL(" ({})").format(pgsql.Identifier(column)) if column else pgsql.SQL("")
    return pgsql.SQL(", ").join(pgsql.SQL(p) + col for p in privileges)


def _grantee(grantee: str) -> pgsql.Composable:
    return pgsql.SQL(PUBLIC) if grantee == PUBLIC else pgsql.Identifier(grantee)


def _target(kind: str, target: ObjectName) -> pgsql.Composable:
    """The object's name; a routine's identity arguments are the catalog's own text
    (pg_get_function_identity_arguments, types and names already quoted by the server)."""
    if kind == "schema":
        return pgsql.Identifier(target.name)
    name = qualified(target.schema, target.name)
    if kind in ROUTINE_KINDS:
        return pgsql.Composed([name, pgsql.SQL("("), pgsql.SQL(target.args or ""), pgsql.SQL(")")])
    return name
