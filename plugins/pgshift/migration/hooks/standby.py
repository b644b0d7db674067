"""StandbyHook: B, the hot standby of A. Its replay position, its WAL receiver, and the logical slot C's
subscription (or DMS) reads from it.

Each method runs one packaged SQL file and returns a :mod:`pgshift.migration.hooks.states` dataclass or a plain value.
"""

from __future__ import annotations

from collections.abc import Sequence

from pgshift.migration.hooks.base import MigrationHook
from pgshift.migration.hooks.states import (
    CopySource,
    CreatedSlot,
    PromotionPosition,
    ReplayReached,
    SlotConfirmed,
    SlotState,
    WalReceiver,
    row_as,
    rows_as,
)


class StandbyHook(MigrationHook):
    """B: a hot standby streaming from A, with the logical slot of the chain's second leg."""

    # -- replay
    def replay_position(self) -> str | None:
        """pg_last_wal_replay_lsn(): what B has replayed (None on a server that is not a standby)."""
        value = self.scalar("replay_position")
        return None if value is None else str(value)

    def replay_reached(self, lsn: str) -> ReplayReached:
        """Whether B has replayed ``lsn`` (once promoted: written it), and where it is.

        :param lsn: a WAL position of A
        """
        row = row_as(ReplayReached, self.fetch_one("replay_reached", (lsn,)))
        if row is None:  # a SELECT of expressions: one row always
            raise LookupError("B returned no replay position")
        return row

    def replay_pause_state(self) -> tuple[str, str | None]:
        """(``pg_get_wal_replay_pause_state()``, the position replayed so far)."""
        row = self.fetch_one("replay_pause_state") or {}
        return str(row.get("state")), row.get("lsn")

    def pause_replay(self) -> None:
        """pg_wal_replay_pause(): replay stops at the next record (B keeps receiving WAL meanwhile)."""
        self.execute("replay_pause")

    def resume_replay(self) -> None:
        """pg_wal_replay_resume()."""
        self.execute("replay_resume")

    def wal_receiver(self) -> WalReceiver:
        """B's recovery state and its WAL receiver (whose fields are None when none runs)."""
        row = row_as(WalReceiver, self.fetch_one("wal_receiver_status"))
        if row is None:  # one row always: the receiver is LEFT JOINed to a constant
            raise LookupError("B returned no WAL receiver row")
        return row

    def set_primary_conninfo(self, conninfo: str) -> None:
        """ALTER SYSTEM SET primary_conninfo, then pg_reload_conf(): B's WAL receiver reconnects with it.

        :param conninfo: the libpq connection string (may hold a password: never logged)
        """
        self.execute("primary_conninfo_set", (conninfo,))
        self.reload_conf()

    def enable_hot_standby_feedback(self) -> None:
        """ALTER SYSTEM SET hot_standby_feedback = on (takes effect with :meth:`reload_conf`)."""
        self.execute("enable_hot_standby_feedback")

    # -- the logical slot
    def logical_slot(self, name: str) -> SlotState | None:
        """A replication slot on B by name (of any type) with its lag behind B's replay position; None if
        there is none.

        :param name: the slot's name
        """
        return self.slot_state(name, "replay")

    def create_logical_slot(self, name: str, plugin: str) -> CreatedSlot:
        """Create a logical slot; on a standby this waits for a running-xacts record from A.

        :param name: the slot's name
        :param plugin: its output plugin (``pgoutput``, ``test_decoding``)
        """
        row = row_as(CreatedSlot, self.fetch_one("create_logical_slot", (name, plugin)))
        if row is None:  # a set-returning function of one row
            raise LookupError(f"creating slot {name!r} returned no row")
        return row

    def decode_changes(self, slot: str, publication: str) -> list[bytes]:
        """Consume logical slot ``slot``'s changes up to B's replay position as pgoutput (protocol 1) messages,
        for the tables of ``publication`` (see :mod:`pgshift.migration.verify.changes`).

        :param slot: a pgoutput slot on B
        :param publication: the publication whose tables are decoded
        """
        return [bytes(r["data"]) for r in self.fetch("decode_changes", {"slot": slot, "publication": publication})]

    def drop_inactive_slot(self, name: str) -> bool:
        """Drop slot ``name`` unless something is using it; True if it was dropped.

        :param name: the slot's name
        """
        return bool(self.fetch("drop_replication_slot", (name,)))

    def slot_confirmed(self, slot: str, lsn: str) -> SlotConfirmed:
        """Has B replayed ``lsn`` (once promoted: written it), and has slot ``slot``'s consumer confirmed it?

        :param slot: the logical slot's name
        :param lsn: a WAL position of A
        """
        row = row_as(SlotConfirmed, self.fetch_one("slot_confirmed", {"lsn": lsn, "slot": slot}))
        if row is None:  # one row: the query has no FROM
            raise LookupError("B returned no slot_confirmed row")
        return row

    # -- the parallel initial copy (pgshift.migration.setup.initial_copy)
    def copy_sources(self, tables: Sequence[tuple[str, str]]) -> list[CopySource]:
        """What the initial copy reads of ``tables``: each one, or each leaf partition of a partitioned one.

        :param tables: (schema, table) in scope
        """
        return rows_as(CopySource, self.fetch("initial_copy_tables", {"schemas": [s for s, _ in tables],
                                                                       "names": [t for _, t in tables]}))

    def advance_slot(self, slot: str, lsn: str) -> str:
        """pg_replication_slot_advance(): the logical slot's confirmed position moved forward to ``lsn``.

        :param slot: the logical slot's name
        :param lsn: where B's replay stands frozen
        """
        return str(self.scalar("slot_advance", {"slot": slot, "lsn": lsn}))

    # -- promotion (action=promote_b, A lost)
    def own_wal_lsn(self) -> str:
        """pg_current_wal_lsn(): B's own position, once it is promoted (its replay position then stands still)."""
        return str(self.scalar("current_wal_lsn"))

    def promotion_position(self, a_lsn: str | None) -> PromotionPosition:
        """Whether B is still a standby, what it received and replayed, and the bytes of A's WAL it had not received.

        :param a_lsn: A's current WAL position, or None when A cannot be asked
        """
        row = row_as(PromotionPosition, self.fetch_one("promotion_position", {"a_lsn": a_lsn}))
        if row is None:  # a SELECT of expressions: one row always
            raise LookupError("B returned no promotion position")
        return row

    def promote(self, wait_seconds: int) -> bool:
        """pg_promote(wait => true): True once B has left recovery, False if that took more than ``wait_seconds``.

        :param wait_seconds: how long to wait for the end of B's recovery
        """
        return bool(self.scalar("promote", {"seconds": wait_seconds}))
