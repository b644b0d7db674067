"""Schema drift: A's and C's catalogs compared for the migrated scope, each difference named with the statement
that makes C match A.

Logical replication carries rows, not DDL: a column added on A stops C's apply worker, a table created on A in a
migrated schema is not copied, a column dropped on A leaves C with one more. pgshift learns of such a change by
comparing the catalogs (:func:`drift`) on every validation and right before the cutover's fence, so a change made on
A is seen at the next validation at the latest.

**What is compared**, in the scope the rest of pgshift computes (``schemas``/``tables``: :class:`Scope`; one
database's part for a chain of several): the tables (ordinary and partitioned), their columns (type, default or
generation expression, identity, NOT NULL), constraints (primary key, unique, check, foreign key, exclusion; by
name and kind), indexes no constraint owns (by name), the scope's sequences (their definition and the column that
owns them, not their position: that is the cutover's to set), the enum types of the scope and their values in order,
the views that read the tables (present, and of the same kind) and the functions the tables use (defaults,
constraints, triggers), by definition. The definitions of constraints, indexes and views are read on A
only (for the statements): ``pg_get_constraintdef``, ``pg_get_indexdef`` and ``pg_get_viewdef`` lock the table they
describe, and the comparison reads C's catalog before the cutover's fence, where a session holding a table of C must
not hold the cutover up; so one redefined under the same name on one side is not seen.
Left out: what pgshift or DMS put on C for themselves (DMS's ``awsdms_*`` control tables;
the subscription and the fence marker are not in these catalogs), identity columns' own sequences (the column's).

**Classification.** ``additive``: something A has and C lacks that can be created on C without touching what C
has (a table, a column, an index, a sequence, an enum type or value, a constraint, a view, a function). Everything
else is ``destructive`` (destructive or ambiguous): something C has and A does not (a column or table dropped or
renamed on A), a type changed, a different default, identity or NOT NULL, a definition that differs, an enum whose
values C has more of or in another order (PostgreSQL cannot drop an enum value). Neither kind is ever run here: the
statements are the report's.

The statements are ordered so that run top to bottom they apply (functions and types before the tables that use
them, tables before their columns, a sequence's owning column before its OWNED BY, constraints before the foreign
keys that need them, views last).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pgshift.migration.schema import ddl
from pgshift.migration.schema.catalog import Catalog, Name, Row, read_catalog, scope_tables

if TYPE_CHECKING:
    from pgshift.migration.config import ChainConfig
    from pgshift.migration.hooks.base import MigrationHook
    from pgshift.migration.scope import Scope

Kind = Literal["additive", "destructive"]
ADDITIVE: Kind = "additive"
DESTRUCTIVE: Kind = "destructive"
# the order the statements apply in (see the module)
_ORDER = {"function": 0, "enum": 1, "sequence": 2, "table": 3, "column": 4, "sequence owner": 5, "constraint": 6,
          "foreign key": 7, "index": 8, "view": 9}


@dataclass(frozen=True)
class Difference:
    """One way C's schema differs from A's.

    :param object: what, as ``<what> <schema>.<name>[.<column>]`` (``column public.orders.note``)
    :param change: how (``on A, not on C``)
    :param kind: ``additive`` or ``destructive`` (destructive or ambiguous: see the module)
    :param ddl: the statement that makes C match A, to run on C
    """

    object: str
    change: str
    kind: Kind
    ddl: str

    def describe(self) -> str:
        return f"{self.object}: {self.change} ({self.kind}): {self.ddl}"

    def as_dict(self) -> dict[str, str]:
        return {"object": self.object, "change": self.change, "kind": self.kind, "ddl": self.ddl}


@dataclass(frozen=True)
class SchemaDrift:
    """A's and C's schemas compared: ``differences`` in the order their statements apply (empty: C matches A)."""

    scope: str
    tables_compared: int
    differences: tuple[Difference, ...]

    @property
    def ok(self) -> bool:
        return not self.differences

    def of_kind(self, kind: Kind) -> list[Difference]:
        return [d for d in self.differences if d.kind == kind]

    def problems(self) -> list[str]:
        """Each difference as a problem reads (validation's, the cutover's refusal)."""
        return [f"schema drift: {d.describe()}" for d in self.differences]

    def as_report(self) -> dict[str, Any]:
        return {"ok": self.ok, "scope": self.scope, "tables_compared": self.tables_compared,
                "additive": len(self.of_kind(ADDITIVE)), "destructive": len(self.of_kind(DESTRUCTIVE)),
                "differences": [d.as_dict() for d in self.differences]}


def drift(a_hook: MigrationHook, c_hook: MigrationHook, scope: Scope) -> SchemaDrift:
    """A's and C's catalogs compared for ``scope`` (each hook connected to the database compared)."""
    a_tables, c_tables = scope_tables(a_hook, scope), scope_tables(c_hook, scope)
    compared = sorted(a_tables.keys() | c_tables.keys())
    a = read_catalog(a_hook, scope, a_tables, compared, definitions=True)
    c = read_catalog(c_hook, scope, c_tables, compared, definitions=False, sequences=a.sequences)
    found = _Differences()
    _tables(a, c, found)
    _sequences(a, c, found)
    _enums(a, c, found)
    _views(a, c, found)
    _functions(a, c, found)
    ordered = sorted(found.items, key=lambda item: item[0])
    return SchemaDrift(scope.describe(), len(compared), tuple(d for _, d in ordered))


class _Differences:
    """The differences found so far, each with its place in the order (:data:`_ORDER`, then as found)."""

    def __init__(self) -> None:
        self.items: list[tuple[tuple[int, int], Difference]] = []

    def add(self, what: str, name: str, change: str, kind: Kind, statement: str) -> None:
        self.items.append(((_ORDER[what], len(self.items)), Difference(f"{what} {name}", change, kind, statement)))


def _dotted(name: Name) -> str:
    return f"{name[0]}.{name[1]}"


def _tables(a: Catalog, c: Catalog, found: _Differences) -> None:
    for name, table in a.tables.items():
        if name not in c.tables:
            found.add("table", _dotted(name), "on A, not on C (its rows are not migrated until C has it and the "
                      "subscription is refreshed)", ADDITIVE,
                      ddl.create_table(table, list(a.columns.get(name, {}).values())))
        else:
            _columns(name, table["qname"], a.columns.get(name, {}), c.columns.get(name, {}), found)
        _owned(name, table["qname"], a, c if name in c.tables else None, found)
    for name, table in c.tables.items():
        if name not in a.tables:
            found.add("table", _dotted(name), "on C, not on A (dropped or renamed on A?)", DESTRUCTIVE,
                      f"DROP TABLE {table['qname']}")


def _columns(table: Name, qtable: str, on_a: dict[str, Any], on_c: dict[str, Any], found: _Differences) -> None:
    for col, a in on_a.items():
        what = f"{_dotted(table)}.{col}"
        c = on_c.get(col)
        if c is None:
            found.add("column", what, "on A, not on C", ADDITIVE,
                      ddl.alter_table(qtable, f"ADD COLUMN {ddl.column_definition(a)}"))
            continue
        if a["type"] != c["type"]:
            found.add("column", what, f"type {a['type']} on A, {c['type']} on C", DESTRUCTIVE,
                      ddl.alter_table(qtable, f"ALTER COLUMN {a['qcolumn']} TYPE {a['type']}"))
        for change, statement in ddl.column_changes(qtable, a, c):
            found.add("column", what, change, DESTRUCTIVE, statement)
    for col, c in on_c.items():
        if col not in on_a:
            found.add("column", f"{_dotted(table)}.{col}", "on C, not on A (dropped or renamed on A?)", DESTRUCTIVE,
                      ddl.alter_table(qtable, f"DROP COLUMN {c['qcolumn']}"))


def _owned(table: Name, qtable: str, a: Catalog, c: Catalog | None, found: _Differences) -> None:
    """The table's constraints and indexes (``c`` None: C lacks the table, so it lacks them all)."""
    on_a, on_c = a.constraints.get(table, {}), c.constraints.get(table, {}) if c else {}
    for name, con in on_a.items():
        what = "foreign key" if con["kind"] == "f" else "constraint"
        other = on_c.get(name)
        if other is None:
            found.add(what, f"{_dotted(table)}.{name}", "on A, not on C", ADDITIVE,
                      ddl.alter_table(qtable, f"ADD CONSTRAINT {con['qname']} {con['definition']}"))
        elif other["kind"] != con["kind"]:
            found.add(what, f"{_dotted(table)}.{name}", f"another kind of constraint on C ({con['definition']} on A)",
                      DESTRUCTIVE, ddl.alter_table(qtable, f"DROP CONSTRAINT {con['qname']}, ADD CONSTRAINT "
                                                           f"{con['qname']} {con['definition']}"))
    for name, con in on_c.items():
        if name not in on_a:
            found.add("constraint", f"{_dotted(table)}.{name}", "on C, not on A", DESTRUCTIVE,
                      ddl.alter_table(qtable, f"DROP CONSTRAINT {con['qname']}"))
    idx_a, idx_c = a.indexes.get(table, {}), c.indexes.get(table, {}) if c else {}
    for name, index in idx_a.items():
        if name not in idx_c:
            found.add("index", f"{table[0]}.{name}", "on A, not on C", ADDITIVE, index["definition"])
    for name, index in idx_c.items():
        if name not in idx_a:
            found.add("index", f"{table[0]}.{name}", "on C, not on A", DESTRUCTIVE, f"DROP INDEX {index['qname']}")


def _one_sided(what: str, on_a: Mapping[Name, Row], on_c: Mapping[Name, Row], found: _Differences, *,
               create: Callable[[Row], str], drop: Callable[[Row], str]) -> list[tuple[Name, Row, Row]]:
    """What only A has (additive: ``create``) and only C has (destructive: ``drop``) added to ``found``; what both
    have returned as (name, A's, C's), for the caller to compare."""
    both = []
    for name, row in on_a.items():
        if name in on_c:
            both.append((name, row, on_c[name]))
        else:
            found.add(what, _dotted(name), "on A, not on C", ADDITIVE, create(row))
    for name, row in on_c.items():
        if name not in on_a:
            found.add(what, _dotted(name), "on C, not on A", DESTRUCTIVE, drop(row))
    return both


def _sequences(a: Catalog, c: Catalog, found: _Differences) -> None:
    """Their definitions, then their owners (OWNED BY: a serial column's sequence is made before its column, and
    owned once the column is there; with named ``tables`` the owner is what puts it in scope)."""
    def definition(seq: Row) -> Row:
        return {k: v for k, v in seq.items() if k not in ("qname", "owned_by")}

    for name, seq, other in _one_sided("sequence", a.sequences, c.sequences, found, create=ddl.create_sequence,
                                       drop=lambda s: f"DROP SEQUENCE {s['qname']}"):
        if definition(seq) != definition(other):
            found.add("sequence", _dotted(name), "defined otherwise on C", DESTRUCTIVE, ddl.alter_sequence(seq))
    for name, seq in a.sequences.items():
        on_c = c.sequences[name]["owned_by"] if name in c.sequences else None
        if seq["owned_by"] != on_c:
            found.add("sequence owner", _dotted(name), f"owned by {seq['owned_by'] or 'no column'} on A, "
                      f"{on_c or 'no column'} on C", ADDITIVE if on_c is None else DESTRUCTIVE, ddl.own_sequence(seq))


def _enums(a: Catalog, c: Catalog, found: _Differences) -> None:
    for name, enum, other in _one_sided("enum", a.enums, c.enums, found, create=ddl.create_enum,
                                        drop=lambda e: f"DROP TYPE {e['qname']}"):
        labels, on_c = list(enum["labels"]), list(other["labels"])
        if [v for v in labels if v in on_c] != on_c:  # C has a value A has not, or another order
            found.add("enum", _dotted(name), f"values ({', '.join(on_c)}) on C, ({', '.join(labels)}) on A: "
                      "PostgreSQL cannot drop or reorder an enum value, the type must be made again on C",
                      DESTRUCTIVE, ddl.create_enum(enum))
            continue
        for label, statement in ddl.add_enum_values(enum, on_c):
            found.add("enum", f"{_dotted(name)} value {label!r}", "on A, not on C", ADDITIVE, statement)


def _views(a: Catalog, c: Catalog, found: _Differences) -> None:
    for name, view, other in _one_sided("view", a.views, c.views, found, create=ddl.create_view, drop=ddl.drop_view):
        if other["kind"] != view["kind"]:
            found.add("view", _dotted(name), "a view on one side, a materialized view on the other", DESTRUCTIVE,
                      f"{ddl.drop_view(other)}; {ddl.create_view(view)}")


def _functions(a: Catalog, c: Catalog, found: _Differences) -> None:
    """A's functions the tables use; one only C's tables use is named by the default, constraint or trigger that
    differs, so it is not a difference of its own (dropping it could take one A still has)."""
    for signature, fn in a.functions.items():
        other = c.functions.get(signature)
        if other is None:
            found.add("function", signature, "on A, not on C (or not used by C's tables)", ADDITIVE,
                      fn["definition"].strip())
        elif other["definition"] != fn["definition"]:
            found.add("function", signature, "defined otherwise on C", DESTRUCTIVE, fn["definition"].strip())


def drift_problems(drifts: Mapping[str | None, SchemaDrift]) -> list[str]:
    """Every database's differences as problems, each naming its database (``None``: the chain's one database)."""
    return [p if db is None else f"database {db}: {p}" for db, found in drifts.items() for p in found.problems()]


REFUSAL = ("A's and C's schemas differ (logical replication carries no DDL): run each statement on C (or undo the "
           "change on A), then cut over again")


def chain_drift(chain: ChainConfig) -> dict[str | None, SchemaDrift]:
    """:func:`drift` of each database of ``chain`` (its part's connections and scope), by database name (None for a
    chain of the one database ``conn_a`` names)."""
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.scope import Scope

    out: dict[str | None, SchemaDrift] = {}
    for part in chain.database_chains() if chain.several_databases else [chain]:
        with PrimaryHook(part.conn_a) as a, TargetHook(part.conn_c) as c:
            out[part.database if chain.several_databases else None] = drift(
                a, c, Scope.from_params(part.schemas, part.tables))
    return out
