"""CREATE SUBSCRIPTION on C, pointing at B through the slot made on B beforehand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException


class CreateSubscriptionOperator(BaseOperator):
    """Subscribe C to ``publication`` on B using the existing ``slot``.

    ``conn_b_source`` holds the credentials and address C uses to reach B (a role with REPLICATION
    and SELECT on the tables). The connection string goes into C's catalog and is never logged.
    """

    template_fields: Sequence[str] = ("conn_c", "conn_b_source", "subscription", "publication", "slot")

    def __init__(self, *, conn_c: str, conn_b_source: str, subscription: str, publication: str, slot: str,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_c, self.conn_b_source = conn_c, conn_b_source
        self.subscription, self.publication, self.slot = subscription, publication, slot

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.migration.hooks.base import MigrationHook
        from pgshift.migration.hooks.target import TargetHook

        with TargetHook(self.conn_c) as c:
            existing = c.subscription(self.subscription)
            if existing:
                if existing.slot_name != self.slot or self.publication not in existing.publications:
                    raise AirflowFailException(
                        f"subscription {self.subscription!r} already exists on C with slot "
                        f"{existing.slot_name!r} and publications {existing.publications}, not slot "
                        f"{self.slot!r} / publication {self.publication!r}")
                self.log.info("Subscription %r already exists on C (%s/%s tables ready): nothing to do",
                              self.subscription, existing.ready, existing.tables)
                return {"created": False}
            # row_security=off: a table with row-level security that this role is subject to makes the initial
            # copy fail instead of silently copying only the rows the policies show it (preflight names the fix).
            conninfo = MigrationHook(self.conn_b_source).libpq_dsn(application_name=self.subscription,
                                                                 options="-c row_security=off")
            c.create_subscription(self.subscription, self.publication, conninfo, self.slot)
            self.log.info("Created subscription %r on C for publication %r through slot %r on B",
                          self.subscription, self.publication, self.slot)
            return {"created": True}
