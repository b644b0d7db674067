"""One database's catalog for the migrated scope, as :mod:`pgshift.migration.schema.drift` compares it: its tables
by ``scope_tables.sql`` (the scope's one rule), the rest by the ``drift_*.sql`` statements
(:meth:`MigrationHook.schema_catalog`), keyed by name, each row as the server wrote
it (names quoted by the server, definitions by ``format_type``, ``pg_get_expr``, ``pg_get_constraintdef``,
``pg_get_indexdef``, ``pg_get_viewdef``, ``pg_get_functiondef``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

if TYPE_CHECKING:
    from pgshift.migration.hooks.base import CatalogPart, MigrationHook
    from pgshift.migration.scope import Scope

Row = dict[str, Any]
Name = tuple[str, str]  # (schema, name)


@dataclass(frozen=True)
class Catalog:
    """What one server has of the scope: ``tables`` by (schema, table); ``columns``, ``constraints`` and ``indexes``
    by table, then by name (columns in their order); ``sequences``, ``enums`` and ``views`` by (schema, name);
    ``functions`` by signature (``schema.name(args)``)."""

    tables: dict[Name, Row]
    columns: dict[Name, dict[str, Row]]
    constraints: dict[Name, dict[str, Row]]
    indexes: dict[Name, dict[str, Row]]
    sequences: dict[Name, Row]
    enums: dict[Name, Row]
    views: dict[Name, Row]
    functions: dict[str, Row]


def scope_tables(hook: MigrationHook, scope: Scope) -> dict[Name, Row]:
    """The tables of ``scope`` on ``hook``'s server, as the publication, the cutover's plan and the verification see
    them (:meth:`MigrationHook.scope_tables`); DMS's control tables (``awsdms_*``, DMS's own on C) left out."""
    return {(t.schema, t.table): asdict(t) for t in hook.scope_tables(scope, "public")
            if not t.table.startswith("awsdms_")}


def read_catalog(hook: MigrationHook, scope: Scope, tables: dict[Name, Row], compared: list[Name], *,
                 definitions: bool, sequences: Iterable[Name] = ()) -> Catalog:
    """The rest of the catalog, for ``compared``: the tables of either side (one side's missing tables read as
    nothing), so that the enums, views and functions are those of every table compared. ``definitions``: the
    definitions of constraints, indexes and views too (A's, for the statements; reading one locks its table, see
    ``drift_constraints.sql``). ``sequences``: A's, read on C too wherever they are (with named ``tables``, a
    sequence is in scope through its owner, which C's may lack: it is then compared, not missed)."""
    named = list(sequences)
    params = {**scope.query_params("public"), "rel_schemas": [s for s, _ in compared],
              "rel_names": [t for _, t in compared], "definitions": definitions,
              "seq_schemas": [s for s, _ in named], "seq_names": [n for _, n in named]}

    def by_table(part: CatalogPart, key: str) -> dict[Name, dict[str, Row]]:
        out: dict[Name, dict[str, Row]] = {}
        for r in hook.schema_catalog(part, params):
            out.setdefault((r["schema"], r["table"]), {})[r[key]] = r
        return out

    def by_name(part: CatalogPart, key: str) -> dict[Name, Row]:
        return {(r["schema"], r[key]): r for r in hook.schema_catalog(part, params)}

    return Catalog(
        tables=tables, columns=by_table("columns", "column"), constraints=by_table("constraints", "name"),
        indexes=by_table("indexes", "name"), sequences=by_name("sequences", "sequence"),
        enums=by_name("enums", "name"), views=by_name("views", "name"),
        functions={r["signature"]: r for r in hook.schema_catalog("functions", params)})
