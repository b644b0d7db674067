"""CREATE SUBSCRIPTION on C, pointing at B through the slot made on B beforehand; one per database of the chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.operators.configured import ConfiguredOperator
from pgshift.migration.setup.databases import about

if TYPE_CHECKING:
    from pgshift.migration.config import ChainConfig


class CreateSubscriptionOperator(ConfiguredOperator):
    """Subscribe C (``conn_c``) to ``publication_name`` on B as ``subscription_name``, using the existing slot
    ``slot_name``; for a chain of named databases, in each database on C to that database's publication on B
    through its slot (a subscription reads one database of its publisher: the connection string names it).

    ``conn_b_subscription`` holds the credentials and address C uses to reach B (a role with REPLICATION
    and SELECT on the tables). The connection string goes into C's catalog and is never logged.
    Returns ``{"created": bool}``; for named databases ``{"created": bool, "databases": {<database>: bool}}``
    (``created``: whether any was).
    """

    def execute(self, context: Context) -> dict[str, object]:
        created = {part.database or "": self._subscribe(part) for part in self.chain.database_chains()}
        if not self.chain.several_databases:
            return {"created": created[""]}
        return {"created": any(created.values()), "databases": created}

    def _subscribe(self, part: ChainConfig) -> bool:
        from pgshift.migration.hooks.base import MigrationHook
        from pgshift.migration.hooks.target import TargetHook

        with TargetHook(part.conn_c) as c:
            existing = c.subscription(part.subscription_name)
            if existing:
                if existing.slot_name != part.slot_name or part.publication_name not in existing.publications:
                    raise AirflowFailException(about(part,
                        f"subscription {part.subscription_name!r} already exists on C with slot "
                        f"{existing.slot_name!r} and publications {existing.publications}, not slot "
                        f"{part.slot_name!r} / publication {part.publication_name!r}"))
                self.log.info(about(part, "Subscription %r already exists on C (%s/%s tables ready): nothing to do"),
                              part.subscription_name, existing.ready, existing.tables)
                return False
            # row_security=off: a table with row-level security that this role is subject to makes the initial
            # copy fail instead of silently copying only the rows the policies show it (preflight names the fix).
            conninfo = MigrationHook(part.conn_b_subscription).libpq_dsn(application_name=part.subscription_name,
                                                                         options="-c row_security=off")
            # initial_copy=parallel put the rows on C as of the slot's position already: nothing to copy again
            c.create_subscription(part.subscription_name, part.publication_name, conninfo, part.slot_name,
                                  copy_data=not part.parallel_copy)
            self.log.info(about(part, "Created subscription %r on C for publication %r through slot %r on B%s"),
                          part.subscription_name, part.publication_name, part.slot_name,
                          " (copy_data = false: the parallel initial copy put the rows there)"
                          if part.parallel_copy else "")
            return True
