"""Waiting until C (or DMS) has confirmed a WAL position of A, read on B."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.target import TargetHook


class DrainTimeout(Exception):
    """The slot's consumer did not confirm the position in time (or the slot is gone)."""


def wait_confirmed(b: StandbyHook, slot: str, lsn: str, timeout: float, nudge: PrimaryHook | None = None,
                   flush: TargetHook | None = None, nudge_every: float = 0.1) -> tuple[float | None, float]:
    """Wait until B has replayed ``lsn`` and slot ``slot`` on B has ``confirmed_flush_lsn >= lsn``.

    The slot's confirmed position is the consumer's word that it has everything up to there; the
    subscription's origin position on C moves only on commits, so it is not used. ``nudge`` (A) gets
    a ``pg_log_standby_snapshot()`` every ``nudge_every`` seconds: new WAL for B's walsender to send,
    so the consumer answers without waiting for its status interval. ``flush`` (C, native mode) gets a
    synchronous empty commit once B has replayed ``lsn``: a subscription applies with
    ``synchronous_commit=off`` and confirms only what C has flushed, which otherwise waits for C's WAL
    writer (measured: about 0.5 s of the drain). Returns (replayed, confirmed) times.
    """
    deadline = time.monotonic() + timeout
    replayed = None
    last_nudge = 0.0
    while True:
        row = b.slot_confirmed(slot, lsn)
        now = time.time()
        if row.replayed and replayed is None:
            replayed = now
        if row.confirmed is None:
            raise DrainTimeout(f"slot {slot!r} is not on B: nothing can confirm {lsn}")
        if row.confirmed:
            return replayed, now
        if time.monotonic() > deadline:
            raise DrainTimeout(f"C did not confirm {lsn} within {timeout:g} s: B replayed {row.replay_lsn}, "
                               f"slot {slot!r} confirmed {row.confirmed_flush_lsn}")
        if time.monotonic() - last_nudge > nudge_every:
            if flush is not None and replayed is not None:
                flush.flush_wal()
            if nudge is not None:
                nudge.log_standby_snapshot()
            last_nudge = time.monotonic()
        time.sleep(0.02)
