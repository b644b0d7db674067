"""The publication on A (B is read-only; the catalog entry reaches B through WAL), one per database of the chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.operators.configured import ConfiguredOperator
from pgshift.migration.setup.databases import about

if TYPE_CHECKING:
    from pgshift.migration.config import ChainConfig


class CreatePublicationOperator(ConfiguredOperator):
    """Create ``publication_name`` on A for the scope (``schemas``, ``tables``) in each database of the chain
    (:meth:`~pgshift.migration.config.ChainConfig.database_chains`: each its own name); an identical existing one is
    kept as it is. The scope is the same in every database: a schema or table it names must be in each.

    Returns A's WAL position after the last publication exists, so that later steps can wait until B has replayed
    it (every database's publication is before it).
    """

    def execute(self, context: Context) -> str:
        lsn = ""
        for part in self.chain.database_chains():
            lsn = self._publish(part)
        return lsn

    def _publish(self, part: ChainConfig) -> str:
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.scope import Scope

        scope = Scope.from_params(part.schemas, part.tables)
        with PrimaryHook(part.conn_a) as a:
            existing = a.publication(part.publication_name)
            if existing:
                if not scope.matches_publication(existing):
                    defined = ("all tables" if existing.all_tables else
                               ", ".join([f"schema {s}" for s in existing.schemas] +
                                         [f"table {t}" for t in existing.tables]) or "nothing")
                    raise AirflowFailException(about(part,
                        f"publication {part.publication_name!r} already exists on A for {defined}, "
                        f"not for {scope.describe()}: drop it or choose another publication name"))
                self.log.info(about(part, "Publication %r already exists on A for %s: nothing to do"),
                              part.publication_name, scope.describe())
            else:
                a.create_publication(part.publication_name, scope.publication_objects())
                self.log.info(about(part, "Created publication %r on A for %s"), part.publication_name,
                              scope.describe())
            return a.current_wal_lsn()
