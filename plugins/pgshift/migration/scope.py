"""What is migrated: all tables, or chosen schemas and tables. One definition for publication and DMS."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgshift.common.validation import parse_table

if TYPE_CHECKING:  # psycopg2 only where SQL is composed: operators import Scope when a DAG is parsed
    from psycopg2 import sql

    from pgshift.migration.hooks.states import PublicationState


@dataclass(frozen=True)
class Scope:
    schemas: tuple[str, ...] = ()
    tables: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @classmethod
    def from_params(cls, schemas: Iterable[str] | None, tables: Iterable[str] | None) -> Scope:
        return cls(tuple(sorted({s.strip() for s in schemas or [] if s and s.strip()})),
                   tuple(sorted({parse_table(t) for t in tables or [] if t and t.strip()})))

    @property
    def all_tables(self) -> bool:
        return not self.schemas and not self.tables

    def describe(self) -> str:
        if self.all_tables:
            return "all tables"
        parts = [f"schema {s}" for s in self.schemas] + [f"table {s}.{t}" for s, t in self.tables]
        return ", ".join(parts)

    def query_params(self, role: str) -> dict[str, Any]:
        """Parameters of ``scope_tables.sql``."""
        return {"all": self.all_tables, "schemas": list(self.schemas), "role": role,
                "tschemas": [s for s, _ in self.tables], "tnames": [t for _, t in self.tables]}

    def publication_objects(self) -> sql.Composable:
        from psycopg2 import sql

        if self.all_tables:
            return sql.SQL("ALL TABLES")
        items = [sql.SQL("TABLES IN SCHEMA {}").format(sql.Identifier(s)) for s in self.schemas]
        items += [sql.SQL("TABLE {}").format(sql.Identifier(s, t)) for s, t in self.tables]
        return sql.SQL(", ").join(items)

    def matches_publication(self, pub: PublicationState) -> bool:
        if pub.all_tables or self.all_tables:
            return bool(pub.all_tables) == self.all_tables
        return (sorted(pub.schemas) == list(self.schemas)
                and sorted(pub.tables) == sorted(f"{s}.{t}" for s, t in self.tables))

    def dms_table_mappings(self) -> dict[str, Any]:
        """DMS selection rules for the same scope (system schemas are never migrated by DMS)."""
        locators = ([("%", "%")] if self.all_tables
                    else [(s, "%") for s in self.schemas] + list(self.tables))
        return {"rules": [
            {"rule-type": "selection", "rule-id": str(i), "rule-name": f"pgshift-{i}",
             "object-locator": {"schema-name": s, "table-name": t}, "rule-action": "include"}
            for i, (s, t) in enumerate(locators, start=1)
        ]}
