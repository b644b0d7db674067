"""The publication on A (B is read-only; the catalog entry reaches B through WAL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException


class CreatePublicationOperator(BaseOperator):
    """Create ``publication`` on A for the scope; an identical existing one is kept as it is.

    Returns A's WAL position after the publication exists, so that later steps can wait until B
    has replayed it.
    """

    template_fields: Sequence[str] = ("conn_a", "publication", "schemas", "tables")

    def __init__(self, *, conn_a: str, publication: str, schemas: list[str] | None = None,
                 tables: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_a, self.publication = conn_a, publication
        self.schemas, self.tables = schemas, tables

    def execute(self, context: Context) -> str:
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.scope import Scope

        scope = Scope.from_params(self.schemas, self.tables)
        with PrimaryHook(self.conn_a) as a:
            existing = a.publication(self.publication)
            if existing:
                if not scope.matches_publication(existing):
                    defined = ("all tables" if existing.all_tables else
                               ", ".join([f"schema {s}" for s in existing.schemas] +
                                         [f"table {t}" for t in existing.tables]) or "nothing")
                    raise AirflowFailException(
                        f"publication {self.publication!r} already exists on A for {defined}, "
                        f"not for {scope.describe()}: drop it or choose another publication name")
                self.log.info("Publication %r already exists on A for %s: nothing to do",
                              self.publication, scope.describe())
            else:
                a.create_publication(self.publication, scope.publication_objects())
                self.log.info("Created publication %r on A for %s", self.publication, scope.describe())
            return a.current_wal_lsn()
