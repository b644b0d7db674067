"""CREATE SUBSCRIPTION on C, pointing at B through the slot made on B beforehand."""

from __future__ import annotations

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.operators.configured import ConfiguredOperator


class CreateSubscriptionOperator(ConfiguredOperator):
    """Subscribe C (``conn_c``) to ``publication_name`` on B as ``subscription_name``, using the existing slot
    ``slot_name``.

    ``conn_b_subscription`` holds the credentials and address C uses to reach B (a role with REPLICATION
    and SELECT on the tables). The connection string goes into C's catalog and is never logged.
    """

    def execute(self, context: Context) -> dict[str, bool]:
        from pgshift.migration.hooks.base import MigrationHook
        from pgshift.migration.hooks.target import TargetHook

        chain = self.chain
        with TargetHook(chain.conn_c) as c:
            existing = c.subscription(chain.subscription_name)
            if existing:
                if existing.slot_name != chain.slot_name or chain.publication_name not in existing.publications:
                    raise AirflowFailException(
                        f"subscription {chain.subscription_name!r} already exists on C with slot "
                        f"{existing.slot_name!r} and publications {existing.publications}, not slot "
                        f"{chain.slot_name!r} / publication {chain.publication_name!r}")
                self.log.info("Subscription %r already exists on C (%s/%s tables ready): nothing to do",
                              chain.subscription_name, existing.ready, existing.tables)
                return {"created": False}
            # row_security=off: a table with row-level security that this role is subject to makes the initial
            # copy fail instead of silently copying only the rows the policies show it (preflight names the fix).
            conninfo = MigrationHook(chain.conn_b_subscription).libpq_dsn(application_name=chain.subscription_name,
                                                                 options="-c row_security=off")
            c.create_subscription(chain.subscription_name, chain.publication_name, conninfo, chain.slot_name)
            self.log.info("Created subscription %r on C for publication %r through slot %r on B",
                          chain.subscription_name, chain.publication_name, chain.slot_name)
            return {"created": True}
