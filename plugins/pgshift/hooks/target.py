"""TargetHook: C, the target (Aurora, or any PostgreSQL). Its subscription to B, the tables already there,
the sequences the cutover sets, and the extensions it has or could install.

Each method runs one packaged SQL file and returns a :mod:`pgshift.hooks.states` dataclass or a plain value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgshift.hooks.postgres import PgShiftHook
from pgshift.hooks.states import (
    ApplyWorker,
    AppProbe,
    AvailableExtension,
    SequenceValue,
    SubscriptionState,
    row_as,
    rows_as,
)
from pgshift.sql import qualified

if TYPE_CHECKING:
    from pgshift.scope import Scope


class TargetHook(PgShiftHook):
    """C: the server the migration copies to and the application moves to."""

    # -- the subscription
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

    def create_subscription(self, name: str, publication: str, conninfo: str, slot: str) -> None:
        """CREATE SUBSCRIPTION on an existing slot (create_slot = false), copying the tables' data.

        :param name: the subscription's name
        :param publication: the publication it subscribes to
        :param conninfo: the libpq connection string to the publisher (holds a password: never logged)
        :param slot: the existing logical slot on the publisher's side
        """
        self.execute("create_subscription", {"conninfo": conninfo, "slot": slot},
                     subscription=name, publication=publication)

    def drop_subscription(self, name: str) -> None:
        """DROP SUBSCRIPTION (which drops its slot on the publisher's side too).

        :param name: the subscription's name
        """
        self.execute("drop_subscription", subscription=name)

    def flush_wal(self) -> None:
        """A synchronous empty commit: what the subscription applied so far is flushed, and confirmed."""
        self.execute("flush_wal")

    # -- the application's roles (the cutover's login proof)
    def current_role(self) -> str:
        """The role this session acts as: the one its connection logs in with."""
        return str(self.scalar("current_role"))

    def probe_app_role(self, role: str | None, scope: Scope) -> AppProbe:
        """As ``role`` (``SET LOCAL ROLE``; None: as this session's own role), read one table in ``scope`` and
        rewrite one row of a table it may update, in a transaction that is always rolled back.

        :param role: the application role to act as, or None to act as the role this connection logged in with
        :param scope: the migrated tables, among which the tables are chosen
        """
        with self.rolled_back():
            if role is not None:
                self.execute("set_local_role", role=role)
            targets = self.fetch_one("app_probe_targets", {**scope.query_params(""), "role": None})
            read, write = (targets or {}).get("read_target"), (targets or {}).get("write_target")
            if read:
                self.scalar("app_probe_read", table=qualified(read[0], read[1]))
            written = 0
            if write:
                written = int(self.scalar("app_probe_write", table=qualified(write[0], write[1]), column=write[2]))
        return AppProbe(".".join(read) if read else None, ".".join(write) if write else None, written)

    def refresh_materialized_view(self, schema: str, name: str) -> None:
        """REFRESH MATERIALIZED VIEW, from the data now on C.

        :param schema: the view's schema
        :param name: the view's name
        """
        self.execute("materialized_view_refresh", matview=qualified(schema, name))

    # -- extensions
    def extensions_available(self, names: Sequence[str]) -> list[AvailableExtension]:
        """The extensions among ``names`` this server could install, with the version it has installed if any.

        :param names: extension names
        """
        return rows_as(AvailableExtension, self.fetch("extensions_available", (list(names),)))

    # -- tables and sequences
    def tables_present(self, tables: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The tables among ``tables`` that exist, sorted.

        :param tables: ``(schema, name)`` pairs
        """
        rows = self.fetch("tables_present", {"tschemas": [s for s, _ in tables], "tnames": [t for _, t in tables]})
        return [(r["schema"], r["table"]) for r in rows]

    def sequence_value(self, schema: str, name: str) -> SequenceValue | None:
        """A sequence's last value; None if there is no such sequence.

        :param schema: the sequence's schema
        :param name: the sequence's name
        """
        return row_as(SequenceValue, self.fetch_one("sequence_exists", (schema, name)))

    def setval(self, schema: str, name: str, value: str) -> str:
        """setval to ``value``, or leave a sequence that is already further; returns its value after.

        :param schema: the sequence's schema
        :param name: the sequence's name
        :param value: the value to set (A's last value, as text)
        """
        regclass = qualified(schema, name).as_string(self.live)
        return str(self.scalar("sequence_setval", {"seq": regclass, "value": value, "schema": schema, "name": name}))
