"""WayBackHook: A or C on the way back (reverse replication C -> A, see :mod:`pgshift.migration.switchover.fallback`).

After the cutover C is the primary and A a fenced subscriber, so either server needs both what
:class:`~pgshift.migration.hooks.primary.PrimaryHook` does (fence, lease, publication, sequences, slots) and what
:class:`~pgshift.migration.hooks.target.TargetHook` does (subscription, setval). This hook is both, plus the few
statements only the way back uses. Each method runs one packaged SQL file.
"""

from __future__ import annotations

from pgshift.migration.hooks.primary import PrimaryHook
from pgshift.migration.hooks.states import CreatedSlot, row_as
from pgshift.migration.hooks.target import TargetHook


class WayBackHook(PrimaryHook, TargetHook):
    """C as the source of the way back, or A as its subscriber."""

    # -- on C
    def create_pgoutput_slot(self, name: str) -> CreatedSlot:
        """A logical slot for pgoutput; returns its name and the LSN it starts at.

        :param name: the slot's name
        """
        row = row_as(CreatedSlot, self.fetch_one("create_logical_slot", (name, "pgoutput")))
        if row is None:  # a set-returning function of one row
            raise LookupError(f"creating slot {name!r} returned no row")
        return row

    def comment_on_publication(self, name: str, comment: str) -> None:
        """COMMENT ON PUBLICATION.

        :param name: the publication's name
        :param comment: the comment
        """
        self.execute("comment_on_publication", {"comment": comment}, publication=name)

    def drop_publication(self, name: str) -> None:
        """DROP PUBLICATION IF EXISTS.

        :param name: the publication's name
        """
        self.execute("drop_publication", publication=name)

    def drop_slot(self, name: str, *, end_walsender: bool = False) -> bool:
        """Drop slot ``name`` if it exists and nothing uses it; True if it was dropped.

        :param name: the slot's name
        :param end_walsender: first terminate the walsender streaming from it (B's physical slot on A)
        """
        if end_walsender:
            self.fetch("slot_walsender_terminate", (name,))
        return bool(self.fetch("drop_replication_slot", (name,)))

    # -- on A
    def create_fallback_subscription(self, name: str, publication: str, conninfo: str, slot: str) -> None:
        """CREATE SUBSCRIPTION from C on its existing fallback slot: no copy, origin none (C's own writes only).

        :param name: the subscription's name
        :param publication: the publication on C
        :param conninfo: the libpq connection string to C (holds a password: never logged)
        :param slot: the slot on C
        """
        self.execute("fallback_subscription_create", {"conninfo": conninfo, "slot": slot},
                     subscription=name, publication=publication)
