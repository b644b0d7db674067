"""MigrationHook: the migration's readings used on several servers of the chain (A, B, C): tables in scope,
table fingerprints, sampled rows, a subscription's state (C's, or A's for the way back), roles and privileges.
The connection layer under it is :class:`~pgshift.common.hooks.postgres.PgShiftHook`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from psycopg2 import sql as pgsql

from pgshift.common import sql
from pgshift.common.hooks.postgres import PgShiftHook
from pgshift.migration.hooks.states import (
    ApplyWorker,
    DatabaseLocale,
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
    from pgshift.migration.access.privileges_states import AccessObjectRow, DefaultAclRow, EffectiveRow
    from pgshift.migration.scope import Scope



CatalogPart = Literal["columns", "constraints", "indexes", "sequences", "enums", "views", "functions"]
# the statement of each part of a schema comparison's catalog (MigrationHook.schema_catalog); its tables are
# scope_tables.sql's (MigrationHook.scope_tables)
_CATALOG_SQL: dict[CatalogPart, str] = {
    "columns": "drift_columns", "constraints": "drift_constraints", "indexes": "drift_indexes",
    "sequences": "drift_sequences", "enums": "drift_enums", "views": "drift_views", "functions": "drift_functions"}


class MigrationHook(PgShiftHook):
    """A PostgreSQL server of the migration's chain; its SQL is :mod:`pgshift.migration.sql`'s."""

    sql_package: ClassVar[str] = "pgshift.migration.sql"  # where this hook's SQL files are (see pgshift.common.sql)

    # -- the server's databases
    def migratable_databases(self) -> list[str]:
        """The databases that are not templates and allow connections, by name (what ``databases ['*']`` means)."""
        return [r["name"] for r in self.fetch("migratable_databases")]

    def database_exists(self, name: str) -> bool:
        """Whether this server has database ``name``.

        :param name: a database name
        """
        return bool(self.scalar("database_exists", (name,)))

    def database_owner(self) -> str:
        """The role that owns this connection's database."""
        return str(self.scalar("database_owner"))

    def set_database_owner(self, database: str, owner: str) -> None:
        """ALTER DATABASE ``database`` OWNER TO ``owner``.

        :param database: a database of this server
        :param owner: the role to own it
        """
        self.execute("database_owner_set", database=database, owner=owner)

    def role_present(self, name: str) -> bool:
        """Whether this server has role ``name``.

        :param name: a role name
        """
        return bool(self.scalar("role_present", (name,)))

    def may_create_databases(self) -> bool:
        """Whether this connection's role may CREATE DATABASE (CREATEDB or superuser)."""
        return bool(self.scalar("may_create_databases"))

    def create_database(self, name: str, like: DatabaseLocale) -> None:
        """CREATE DATABASE ``name`` from template0 with ``like``'s encoding and locale, owned by this connection's
        role (it needs CREATEDB; Aurora's master user has it). Runs outside a transaction: PostgreSQL refuses
        CREATE DATABASE inside one.

        :param name: the new database's name
        :param like: the encoding and locale it gets (A's database's, :meth:`database_locale`)
        """
        file = {"icu": "create_database_icu", "builtin": "create_database_builtin"}.get(like.provider,
                                                                                        "create_database")
        self.execute(file, asdict(like), database=name)

    def database_locale(self, name: str) -> DatabaseLocale | None:
        """Database ``name``'s encoding and locale; None when this server has no such database.

        :param name: a database of this server
        """
        return row_as(DatabaseLocale, self.fetch_one("database_locale", (name,)))

    def locale_refused(self, like: DatabaseLocale) -> str | None:
        """Why this server cannot create a database with ``like``'s locale (its error), None when it can: a
        collation of that locale made in pg_temp and rolled back, so nothing is left.

        :param like: the encoding and locale wanted
        """
        from psycopg2 import Error

        try:
            with self.rolled_back():
                if like.provider == "libc":
                    self.execute("locale_probe", {"collate": like.collate, "ctype": like.ctype})
                else:
                    self.execute("locale_probe_provider", {"provider": like.provider, "locale": like.locale})
        except Error as exc:
            return str(exc).strip().splitlines()[0]
        return None

    # -- tables
    def scope_tables(self, scope: Scope, role: str) -> list[ScopeTable]:
        """Ordinary and partitioned tables in ``scope`` (not partitions), by schema and name.

        :param scope: the migration's schemas and tables
        :param role: the role whose SELECT privilege ``role_can_select`` reports
        """
        return rows_as(ScopeTable, self.fetch("scope_tables", scope.query_params(role)))

    def schema_catalog(self, part: CatalogPart, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One part of this database's catalog, for a comparison of A's and C's schemas
        (:mod:`pgshift.migration.schema.drift`): ``drift_<part>.sql``'s rows.

        :param part: columns, constraints, indexes, sequences, enums, views or functions
        :param params: the scope's :meth:`Scope.query_params` and ``rel_schemas``/``rel_names``, the tables compared
        """
        return self.fetch(_CATALOG_SQL[part], params)

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

    # -- parity (see pgshift.migration.verify.parity and pgshift.migration.validation.sampling)
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
        :param position: ``replay`` on a standby, ``current`` on a primary
            (:data:`~pgshift.migration.hooks.states.SlotPosition`)
        :param lsn: a position to compare the consumer's confirmation with (``confirmed``)
        """
        return row_as(SlotState, self.fetch_one("logical_slot_state", {"slot": name, "position": position,
                                                                       "lsn": lsn}))

    # -- roles (see pgshift.migration.access.roles)
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

    def role_specs(self, names: Sequence[str], groups: Sequence[str], *, verifiers: bool,
                   databases: Sequence[str] | None = None) -> list[RoleSpec]:
        """The roles among ``names`` that exist, by name, with their memberships in ``groups`` and in
        predefined roles, and their settings in every database and in ``databases``. Reading verifiers needs
        pg_authid (a superuser); psycopg2's InsufficientPrivilege is raised where it is not readable.

        :param names: role names
        :param groups: the groups whose memberships are read (besides predefined roles)
        :param verifiers: read pg_authid with the password verifiers (secrets), else pg_roles without them
        :param databases: the databases whose ``ALTER ROLE … IN DATABASE`` settings are read (None: this one)
        """
        params = {"names": list(names), "groups": list(groups), "verifiers": verifiers,
                  "databases": None if databases is None else list(databases)}
        rows = self.fetch("role_specs", params, catalog="pg_authid" if verifiers else "pg_roles")
        return [RoleSpec(**{**r, "member_of": tuple(Membership(**{**m, "grantors": tuple(m["grantors"])})
                                                    for m in r["member_of"]),
                            "settings": tuple(RoleSetting.parse(s["database"], s["setting"])
                                              for s in r["settings"])})
                for r in rows]

    # -- ownership and privileges of the migrated objects (see pgshift.migration.access.privileges); the same readings
    # on A and C
    @staticmethod
    def _access_params(scope: Scope) -> dict[str, Any]:
        return {"all": scope.all_tables, "schemas": list(scope.schemas),
                "tschemas": [s for s, _ in scope.tables], "tnames": [t for _, t in scope.tables]}

    def access_objects(self, scope: Scope) -> list[AccessObjectRow]:
        """The migrated objects with owner, ACL (NULL read as acldefault()), RLS flags, policies, column ACLs.

        :param scope: the migration's schemas and tables
        """
        from pgshift.migration.access.privileges_states import AccessObjectRow

        return rows_as(AccessObjectRow, self.fetch("access_objects", self._access_params(scope)))

    def default_acl(self, scope: Scope) -> list[DefaultAclRow]:
        """ALTER DEFAULT PRIVILEGES entries: global ones and those of the migrated schemas.

        :param scope: the migration's schemas and tables
        """
        from pgshift.migration.access.privileges_states import DefaultAclRow

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
        from pgshift.migration.access.privileges_states import EffectiveRow

        return rows_as(EffectiveRow, self.fetch("privilege_effective",
                                                {**self._access_params(scope), "roles": list(roles)}))
