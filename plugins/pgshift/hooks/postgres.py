"""PgShiftHook: pgshift's connection layer, and what it reads on any server of the chain.

The hooks own pgshift's SQL: each method runs one packaged SQL file (``pgshift/sql/<name>.sql``) and returns
a frozen dataclass of :mod:`pgshift.hooks.states` (or a plain value for a one-column reading); nothing
outside ``pgshift.hooks`` names a SQL file. One hook per server role, so a caller constructs the hook of the
server it talks to:

- :class:`PgShiftHook` (this module): the connection, statements by name, and readings used on several
  servers (server facts, tables in scope, table fingerprints, sampled rows, a subscription's state: C's, or
  A's for the way back);
- :class:`pgshift.hooks.primary.PrimaryHook`: A, the source (fence, lease, WAL positions, physical slot,
  publication, sequences);
- :class:`pgshift.hooks.standby.StandbyHook`: B, the hot standby (replay, WAL receiver, logical slot);
- :class:`pgshift.hooks.target.TargetHook`: C, the target (subscription, sequences, tables present);
- :class:`pgshift.hooks.citus.CitusHook`: a Citus coordinator.

``fetch``/``fetch_one``/``scalar``/``execute`` stay public for SQL that is not pgshift's (tests, probes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeAlias, TypedDict, cast

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from airflow.providers.postgres.hooks.postgres import PostgresHook
from psycopg2 import sql as pgsql
from psycopg2.extensions import make_dsn

from pgshift import sql
from pgshift.hooks.states import (
    ApplyWorker,
    Membership,
    RoleSetting,
    RoleSpec,
    ScopeTable,
    SlotPosition,
    SlotState,
    SubscriptionState,
    row_as,
    rows_as,
)

if TYPE_CHECKING:
    from pgshift.privileges_states import AccessObjectRow, DefaultAclRow, EffectiveRow
    from pgshift.scope import Scope

Row: TypeAlias = dict[str, Any]  # one result row, by column name
Params: TypeAlias = Sequence[Any] | Mapping[str, Any] | None  # %s / %(name)s parameters of a statement


class ConnParams(TypedDict):
    """Where and as whom a connection reaches its server (with the password: never logged)."""

    host: str | None
    port: int
    user: str | None
    password: str
    dbname: str


class PgShiftHook(PostgresHook):
    """One autocommit connection per hook; statements are never logged (some carry secrets)."""

    def __init__(self, postgres_conn_id: str, *, connect_timeout: int = 10, **kwargs: Any) -> None:
        super().__init__(postgres_conn_id=postgres_conn_id, **kwargs)
        self.connect_timeout = connect_timeout
        self._live: psycopg2.extensions.connection | None = None

    # -- connection
    def _create_connection(self, conn_args: dict[str, Any]) -> psycopg2.extensions.connection:
        """Always psycopg2 (PostgresHook picks psycopg 3 when it is installed): pgshift's SQL is
        composed with psycopg2.sql, and its RealDictCursor rows are what the checks read."""
        conn_args = {k: v for k, v in conn_args.items() if v is not None}
        conn_args.setdefault("connect_timeout", self.connect_timeout)
        # How pgshift's own sessions are told apart from the application's on C (see other_sessions.sql).
        conn_args.setdefault("application_name", "pgshift")
        return psycopg2.connect(**conn_args)

    @property
    def live(self) -> psycopg2.extensions.connection:
        """This hook's open connection (autocommit), opened on first use and again after :meth:`close`."""
        if self._live is None or self._live.closed:
            # get_conn() is typed for psycopg 2 or 3; _create_connection (or CitusHook.get_conn) makes psycopg2's.
            conn = cast("psycopg2.extensions.connection", self.get_conn())
            conn.autocommit = True
            self._live = conn
        return self._live

    def close(self) -> None:
        if self._live is not None and not self._live.closed:
            self._live.close()
        self._live = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def cursor(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        with self.live.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            yield cur

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Self]:
        """Statements run inside are one transaction: committed on success, rolled back on any error."""
        conn = self.live
        conn.autocommit = False
        try:
            yield self
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.autocommit = True

    @contextlib.contextmanager
    def rolled_back(self) -> Iterator[Self]:
        """Statements run inside are one transaction that is always rolled back (a proof that changes nothing)."""
        conn = self.live
        conn.autocommit = False
        try:
            yield self
        finally:
            conn.rollback()
            conn.autocommit = True

    # -- statements
    @staticmethod
    def _statement(query: str | pgsql.Composable, identifiers: Mapping[str, Any]) -> pgsql.Composable:
        """A str names a packaged SQL file (``pgshift/sql/<name>.sql``); a Composable is used as it is."""
        return sql.compose(query, **identifiers) if isinstance(query, str) else query

    def fetch(self, query: str | pgsql.Composable, params: Params = None,
              **identifiers: Any) -> list[Row]:
        """Rows as dicts. ``query`` is a packaged SQL file name (``pgshift/sql/<name>.sql``) or a Composable."""
        with self.cursor() as cur:
            cur.execute(self._statement(query, identifiers), params)
            return [dict(r) for r in cur.fetchall()] if cur.description else []

    def fetch_one(self, query: str | pgsql.Composable, params: Params = None,
                  **identifiers: Any) -> Row | None:
        rows = self.fetch(query, params, **identifiers)
        return rows[0] if rows else None

    def scalar(self, query: str | pgsql.Composable, params: Params = None,
               **identifiers: Any) -> Any:
        row = self.fetch_one(query, params, **identifiers)
        return next(iter(row.values())) if row else None

    def execute(self, query: str | pgsql.Composable, params: Params = None,
                **identifiers: Any) -> None:
        with self.cursor() as cur:
            cur.execute(self._statement(query, identifiers), params)

    # -- facts about the server
    def server_version_num(self) -> int:
        return int(self.setting("server_version_num"))

    def setting(self, name: str) -> str:
        """current_setting(``name``).

        :param name: a setting this session can read
        """
        return str(self.scalar("current_setting", (name,)))

    def server_facts(self) -> dict[str, Any]:
        """Version, recovery state, wal_level, slot and worker limits (``server_facts.sql``: one row, read
        by the preflight as a whole)."""
        row = self.fetch_one("server_facts")
        if row is None:  # a SELECT of expressions: one row always
            raise LookupError("server_facts returned no row")
        return row

    def reload_conf(self) -> None:
        """pg_reload_conf(): settings changed with ALTER SYSTEM take effect (the sighup ones)."""
        self.execute("reload_conf")

    # -- tables
    def scope_tables(self, scope: Scope, role: str) -> list[ScopeTable]:
        """Ordinary and partitioned tables in ``scope`` (not partitions), by schema and name.

        :param scope: the migration's schemas and tables
        :param role: the role whose SELECT privilege ``role_can_select`` reports
        """
        return rows_as(ScopeTable, self.fetch("scope_tables", scope.query_params(role)))

    def primary_key_columns(self, table: str) -> list[str]:
        """The primary key's columns in key order; empty without a primary key.

        :param table: the table as a regclass literal (``schema.name``, quoted as needed)
        """
        return [r["column"] for r in self.fetch("primary_key_columns", (table,))]

    def partitions_of(self, tables: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
        """Every partition (at any depth) of these tables -> the table at its root.

        :param tables: (schema, name) of partitioned (or any) tables
        """
        rows = self.fetch("partitions_of", {"schemas": [t[0] for t in tables], "names": [t[1] for t in tables]})
        return {(r["schema"], r["table"]): (r["root_schema"], r["root_table"]) for r in rows}

    def reltuples(self, table: str) -> float:
        """The planner's row estimate (0 for a table never analyzed).

        :param table: the table as a regclass literal
        """
        return float(self.scalar("reltuples", (table,)) or 0)

    def record_hashable(self, table: str) -> bool:
        """Whether hash_record_extended can hash every column type of the table.

        :param table: the table as a regclass literal
        """
        return bool(self.scalar("record_hashable", (table,)))

    # -- parity (see pgshift.parity and pgshift.sampling)
    def fingerprint_session(self) -> None:
        """Pin TimeZone, DateStyle, float and bytea output, so equal values print equally on every server."""
        self.execute("fingerprint_session")

    def table_fingerprint(self, schema: str, table: str, method: str) -> tuple[int, str]:
        """``(row count, sum of row hashes)`` of a table.

        :param schema: the table's schema
        :param table: the table's name
        :param method: ``record`` (hash_record_extended) or ``text`` (hashtextextended of ``row::text``)
        """
        name = {"record": "table_fingerprint_record", "text": "table_fingerprint"}[method]
        row = self.fetch_one(name, table=sql.qualified(schema, table))
        if row is None:  # an aggregate always returns a row
            raise RuntimeError(f"no fingerprint row for {schema}.{table}")
        return int(row["row_count"]), str(row["content_hash"])

    def sample_rows(self, schema: str, table: str, pk: list[str], percent: float, n: int) -> dict[str, str]:
        """Up to ``n`` rows sampled with TABLESAMPLE BERNOULLI: primary key as JSON text -> row hash.

        :param schema: the table's schema
        :param table: the table's name
        :param pk: the primary key's columns
        :param percent: the sample's percentage of the table's pages' rows
        :param n: the most rows returned
        """
        return self._keyed_rows("sample_rows", {"pk": pk, "percent": percent, "n": n}, schema, table, pk)

    def rows_by_key(self, schema: str, table: str, pk: list[str], keys: list[str]) -> dict[str, str]:
        """The rows with these primary keys: primary key as JSON text -> row hash (missing keys are absent).

        :param schema: the table's schema
        :param table: the table's name
        :param pk: the primary key's columns
        :param keys: primary keys as JSON objects (text), as :meth:`sample_rows` returns them
        """
        return self._keyed_rows("rows_by_key", {"pk": pk, "keys": "[" + ",".join(keys) + "]"}, schema, table, pk)

    def _keyed_rows(self, name: str, params: dict[str, Any], schema: str, table: str,
                    pk: list[str]) -> dict[str, str]:
        rows = self.fetch(name, params, table=sql.qualified(schema, table),
                          pk_columns=pgsql.SQL(", ").join(pgsql.Identifier(c) for c in pk))
        return {r["key"]: r["hash"] for r in rows}

    # -- a subscription in this database: C's from B, or A's from C for the way back
    def subscription(self, name: str) -> SubscriptionState | None:
        """A subscription in this database with its tables' sync states; None if there is none.

        :param name: the subscription's name
        """
        return row_as(SubscriptionState, self.fetch_one("subscription_state", (name,)))

    def apply_worker(self, subscription: str) -> ApplyWorker | None:
        """The subscription's error counters and its running apply worker; None if there is no subscription.

        :param subscription: the subscription's name
        """
        return row_as(ApplyWorker, self.fetch_one("subscription_apply_worker", (subscription,)))

    # -- a replication slot on this server: B's for C, or C's for A on the way back
    def slot_state(self, name: str, position: SlotPosition, lsn: str | None = None) -> SlotState | None:
        """A replication slot by name (of any type) with its consumer's lag behind this server's ``position``;
        None if there is none.

        :param name: the slot's name
        :param position: ``replay`` on a standby, ``current`` on a primary (:data:`~pgshift.hooks.states.SlotPosition`)
        :param lsn: a position to compare the consumer's confirmation with (``confirmed``)
        """
        return row_as(SlotState, self.fetch_one("logical_slot_state", {"slot": name, "position": position,
                                                                       "lsn": lsn}))

    # -- what other programs need to reach this server (never logged)
    def conn_params(self) -> ConnParams:
        conn = self.connection
        return {"host": conn.host, "port": conn.port or 5432, "user": conn.login,
                "password": conn.password or "", "dbname": self.database or conn.schema or "postgres"}

    def libpq_dsn(self, **overrides: Any) -> str:
        """A libpq connection string (with password: for CREATE SUBSCRIPTION only, never logged)."""
        params = {k: v for k, v in {**self.conn_params(), **overrides}.items() if v not in (None, "")}
        return str(make_dsn(**params))

    def libpq_env(self) -> dict[str, str]:
        """PG* environment variables for pg_dump/psql/pg_basebackup, so no secret is on a command line."""
        p = self.conn_params()
        return {"PGHOST": str(p["host"]), "PGPORT": str(p["port"]), "PGUSER": str(p["user"]),
                "PGPASSWORD": str(p["password"]), "PGDATABASE": str(p["dbname"]),
                "PGCONNECT_TIMEOUT": str(self.connect_timeout)}

    def describe(self) -> str:
        """``user@host:port/db`` for messages."""
        p = self.conn_params()
        return f"{p['user']}@{p['host']}:{p['port']}/{p['dbname']}"

    # -- roles (see pgshift.roles)
    def roles_in_scope(self, scope: Scope, named: Sequence[str], exclude: Sequence[str]) -> list[str]:
        """The roles a migration of ``scope`` needs, sorted: owners of the migrated schemas and objects, the
        grantees and grantors of their ACLs and of the default ACLs, policy roles, ``named``, closed over
        memberships both ways; never PUBLIC nor a predefined role. Names that are no role are left out.

        :param scope: the migration's schemas and tables (every non-system schema for all tables)
        :param named: roles wanted whether or not the catalog names them (the app roles, additions)
        :param exclude: roles removed from the result
        """
        params = {**scope.query_params(""), "named": list(named), "exclude": list(exclude)}
        return [r["role"] for r in self.fetch("roles_in_scope", params)]

    def role_specs(self, names: Sequence[str], groups: Sequence[str], *, verifiers: bool) -> list[RoleSpec]:
        """The roles among ``names`` that exist, by name, with their memberships in ``groups`` and in
        predefined roles. Reading verifiers needs pg_authid (a superuser); psycopg2's InsufficientPrivilege
        is raised where it is not readable.

        :param names: role names
        :param groups: the groups whose memberships are read (besides predefined roles)
        :param verifiers: read pg_authid with the password verifiers (secrets), else pg_roles without them
        """
        rows = self.fetch("role_specs", {"names": list(names), "groups": list(groups), "verifiers": verifiers},
                          catalog="pg_authid" if verifiers else "pg_roles")
        return [RoleSpec(**{**r, "member_of": tuple(Membership(**{**m, "grantors": tuple(m["grantors"])})
                                                    for m in r["member_of"]),
                            "settings": tuple(RoleSetting.parse(s["in_database"], s["setting"])
                                              for s in r["settings"])})
                for r in rows]

    # -- ownership and privileges of the migrated objects (see pgshift.privileges); the same readings on A and C
    @staticmethod
    def _access_params(scope: Scope) -> dict[str, Any]:
        return {"all": scope.all_tables, "schemas": list(scope.schemas),
                "tschemas": [s for s, _ in scope.tables], "tnames": [t for _, t in scope.tables]}

    def access_objects(self, scope: Scope) -> list[AccessObjectRow]:
        """The migrated objects with owner, ACL (NULL read as acldefault()), RLS flags, policies, column ACLs.

        :param scope: the migration's schemas and tables
        """
        from pgshift.privileges_states import AccessObjectRow

        return rows_as(AccessObjectRow, self.fetch("access_objects", self._access_params(scope)))

    def default_acl(self, scope: Scope) -> list[DefaultAclRow]:
        """ALTER DEFAULT PRIVILEGES entries: global ones and those of the migrated schemas.

        :param scope: the migration's schemas and tables
        """
        from pgshift.privileges_states import DefaultAclRow

        return rows_as(DefaultAclRow, self.fetch("access_default_acl", self._access_params(scope)))

    def role_names(self) -> list[str]:
        """Every role of this server, sorted."""
        return [r["rolname"] for r in self.fetch("access_role_names")]

    def effective_privileges(self, scope: Scope, roles: Sequence[str]) -> list[EffectiveRow]:
        """Each existing role among ``roles`` with the privileges it holds on the migrated objects
        (has_*_privilege) as lines ``<kind> <identity> <PRIVILEGE>``; a role this server lacks has no row.

        :param scope: the migration's schemas and tables
        :param roles: role names
        """
        from pgshift.privileges_states import EffectiveRow

        return rows_as(EffectiveRow, self.fetch("privilege_effective",
                                                {**self._access_params(scope), "roles": list(roles)}))
