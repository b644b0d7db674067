"""The publication on A (B is read-only; the catalog entry reaches B through WAL)."""

from __future__ import annotations

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.operators.configured import ConfiguredOperator


class CreatePublicationOperator(ConfiguredOperator):
    """Create ``publication_name`` on A for the scope (``schemas``, ``tables``); an identical existing one is kept
    as it is.

    Returns A's WAL position after the publication exists, so that later steps can wait until B
    has replayed it.
    """

    def execute(self, context: Context) -> str:
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.scope import Scope

        chain = self.chain
        scope = Scope.from_params(chain.schemas, chain.tables)
        with PrimaryHook(chain.conn_a) as a:
            existing = a.publication(chain.publication_name)
            if existing:
                if not scope.matches_publication(existing):
                    defined = ("all tables" if existing.all_tables else
                               ", ".join([f"schema {s}" for s in existing.schemas] +
                                         [f"table {t}" for t in existing.tables]) or "nothing")
                    raise AirflowFailException(
                        f"publication {chain.publication_name!r} already exists on A for {defined}, "
                        f"not for {scope.describe()}: drop it or choose another publication name")
                self.log.info("Publication %r already exists on A for %s: nothing to do",
                              chain.publication_name, scope.describe())
            else:
                a.create_publication(chain.publication_name, scope.publication_objects())
                self.log.info("Created publication %r on A for %s", chain.publication_name, scope.describe())
            return a.current_wal_lsn()
