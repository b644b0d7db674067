"""PgShiftHook: pgshift's connection layer, for either domain.

The hooks own pgshift's SQL: each method runs one packaged SQL file (of its domain's ``sql`` package, see
:mod:`pgshift.common.sql`) and returns a frozen dataclass (or a plain value for a one-column reading); nothing
outside the hook modules names a SQL file. One hook per server role, so a caller constructs the hook of the
server it talks to:

- :class:`PgShiftHook` (this module): the connection, statements by name, server facts and settings;
- :class:`pgshift.migration.hooks.base.MigrationHook`: the migration's readings used on several servers
  (tables in scope, table fingerprints, sampled rows, a subscription's state: C's, or A's for the way back,
  roles and privileges);
- :class:`pgshift.migration.hooks.primary.PrimaryHook`: A, the source (fence, lease, WAL positions, physical slot,
  publication, sequences);
- :class:`pgshift.migration.hooks.standby.StandbyHook`: B, the hot standby (replay, WAL receiver, logical slot);
- :class:`pgshift.migration.hooks.target.TargetHook`: C, the target (subscription, sequences, tables present);
- :class:`pgshift.citus.hook.CitusHook`: a Citus coordinator.

``fetch``/``fetch_one``/``scalar``/``execute`` stay public for SQL that is not pgshift's (tests, probes).

**Another database of the same server.** A hook's connection id may name a database after a slash,
``pg_a/orders``: the Airflow connection ``pg_a`` (host, port, role, password), in the database ``orders`` instead of
the connection's own. Airflow's connection ids cannot hold a slash, so the form is unambiguous, and it is plain text:
a :class:`~pgshift.common.checks.Check` carries it to the triggerer as it carries any connection id. A chain of
several databases (``hybrid_aurora_migration``'s ``databases``) gives each database's part of the work these ids
(:meth:`pgshift.migration.config.ChainConfig.in_database`), so that one database's code serves each of them.
:mod:`pgshift.common.connections` makes and takes apart such ids.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Self, TypeAlias, TypedDict, cast

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from airflow.providers.postgres.hooks.postgres import PostgresHook
from psycopg2 import sql as pgsql
from psycopg2.extensions import make_dsn

from pgshift.common import sql
from pgshift.common.connections import connection_id, database_of

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
    """One autocommit connection per hook; statements are never logged (some carry secrets).

    :param postgres_conn_id: an Airflow connection id, or ``<id>/<database>`` for another database of its server
    :param connect_timeout: seconds libpq waits for the server
    """

    sql_package: ClassVar[str] = "pgshift.common.sql"  # where this hook's SQL files are (see pgshift.common.sql)

    def __init__(self, postgres_conn_id: str, *, connect_timeout: int = 10, **kwargs: Any) -> None:
        if database := database_of(postgres_conn_id):
            kwargs.setdefault("database", database)
        super().__init__(postgres_conn_id=connection_id(postgres_conn_id), **kwargs)
        self.conn_ref = postgres_conn_id  # as given, with its database: what another hook of this one's reach takes
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
    @classmethod
    def _statement(cls, query: str | pgsql.Composable, identifiers: Mapping[str, Any]) -> pgsql.Composable:
        """A str names a packaged SQL file (in :attr:`sql_package`, else in ``pgshift/common/sql/``); a
        Composable is used as it is."""
        return sql.compose(query, cls.sql_package, **identifiers) if isinstance(query, str) else query

    def fetch(self, query: str | pgsql.Composable, params: Params = None,
              **identifiers: Any) -> list[Row]:
        """Rows as dicts. ``query`` is a packaged SQL file name (``pgshift/common/sql/<name>.sql``) or a Composable."""
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
