"""A frozen point: every table compared, B against C, with no read on A and no write stopped anywhere.

B is the control layer: its WAL replay can stand still without touching A. Paused at an LSN L, B holds A's data
as of L; once C (or DMS) has confirmed L on B's slot, C holds exactly the same, and neither moves (B's slot
decodes only what B has replayed). Every table is then fingerprinted on B and on C at once, as the cutover's
verify step does on a fenced A. Replay is resumed on every way out - success, error, the pause's time limit -
and a replay a DBA had paused before is left as it was.

Pausing holds B -> C back for the check's duration while A's WAL piles up on B (it is still received), so the
pause is bounded (``max_pause``); a comparison that overruns it is abandoned, not judged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.verify.parity import Table, TableParity


T = TypeVar("T")


class FrozenPointError(Exception):
    """The frozen point could not be held (B not paused in time, C not confirming L, the pause overran)."""


@dataclass(frozen=True)
class Frozen(Generic[T]):
    """What ran at a frozen point, and where and how long B stood still for it."""

    lsn: str  # L: where B's replay stood
    paused_seconds: float  # how long B -> C was held back
    confirm_seconds: float  # of which waiting for C to confirm L (about what a drain takes now)
    resumed: bool  # False: B's replay was paused already (by someone else) and is left paused
    result: T


@dataclass(frozen=True)
class FrozenComparison:
    lsn: str  # L: where B's replay stood
    paused_seconds: float  # how long B -> C was held back
    resumed: bool  # False: B's replay was paused already (by someone else) and is left paused
    tables: list[TableParity]


@contextmanager
def replay_paused(b: StandbyHook, timeout: float = 10.0) -> Iterator[tuple[str, bool]]:
    """B's replay paused; yields (L, whether this paused it). Resumed on the way out unless it was paused before."""
    state, lsn = b.replay_pause_state()
    ours = state == "not paused"
    if ours:
        b.pause_replay()
    try:
        deadline = time.monotonic() + timeout
        while state != "paused":
            if time.monotonic() > deadline:
                raise FrozenPointError(f"B's replay did not pause within {timeout:g} s (state {state!r})")
            time.sleep(0.01)
            state, lsn = b.replay_pause_state()
        if lsn is None:
            raise FrozenPointError("B reports no replay position: is it a standby?")
        yield lsn, ours
    finally:
        if ours:
            b.resume_replay()


def at_frozen_point(b: StandbyHook, conn_c: str, slot: str, work: Callable[[str], T], *, confirm_timeout: float,
                    max_pause: float, what: str = "the comparison") -> Frozen[T]:
    """Pause B at L, wait for C to confirm L, run ``work(L)`` within what is left of ``max_pause``, resume."""
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.switchover.drain import DrainTimeout, wait_confirmed

    started = time.monotonic()
    with replay_paused(b) as (lsn, ours):
        try:
            with TargetHook(conn_c) as c:  # (an empty synchronous commit on C: it confirms what it has flushed)
                wait_confirmed(b, slot, lsn, min(confirm_timeout, max_pause), flush=c)
        except DrainTimeout as exc:
            raise FrozenPointError(f"C did not confirm B's frozen position {lsn}: {exc}") from exc
        confirmed = time.monotonic() - started
        left = max_pause - confirmed
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgshift-frozen")
        try:
            result = pool.submit(work, lsn).result(timeout=max(left, 0.0))
        except FutureTimeout:
            # Replay resumes at once (below); the work's sessions end on their own, their answer unused.
            raise FrozenPointError(f"{what} at {lsn} overran the {max_pause:g} s B may stand still: "
                                   "replay resumed, nothing judged") from None
        finally:
            pool.shutdown(wait=False)
    return Frozen(lsn, round(time.monotonic() - started, 3), round(confirmed, 3), ours, result)


def compare_frozen(b: StandbyHook, conn_c: str, slot: str, tables: list[Table], *, confirm_timeout: float,
                   max_pause: float, parallelism: int = 4, methods: dict[Table, str] | None = None,
                   ) -> FrozenComparison:
    """Pause B at L, wait for C to confirm L, fingerprint every table on B and C, resume (see the module)."""
    from pgshift.migration.verify.parity import compare_still

    frozen = at_frozen_point(
        b, conn_c, slot, lambda _lsn: compare_still(b.conn_ref, conn_c, tables, parallelism, methods),
        confirm_timeout=confirm_timeout, max_pause=max_pause)
    return FrozenComparison(frozen.lsn, frozen.paused_seconds, frozen.resumed, frozen.result)
