"""What the parallel initial copy copies, in which pieces: every table (each leaf partition of a partitioned one) in
ranges of blocks, the large ones split so that ``workers`` sessions stay busy to the end.

A range is a TID range (``ctid >= (low,0) AND ctid < (high,0)``): PostgreSQL >= 14 reads it with a TID range scan,
whatever the table's keys (a table without a primary key splits as well as one with). The last range of a table is
open-ended, so a table that grew after its size was read (it cannot on a frozen B) would still be copied whole.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgshift.migration.hooks.states import CopySource

MAX_BLOCK = 4294967295  # above any block number: the open end of a table's last range
MIN_RANGE_BYTES = 16 * 1024 * 1024  # a range smaller than this costs more in sessions and round trips than it saves
RANGES_PER_WORKER = 4  # enough pieces that the last ones to finish are small


def default_workers(given: int) -> int:
    """``copy_workers``: as given, or (0) the worker machine's cores, at least 2 (one session reads B while the
    other's server writes C)."""
    return given if given > 0 else max(2, os.cpu_count() or 2)


@dataclass(frozen=True)
class CopyRange:
    """One piece of one table: blocks ``low`` to ``high`` (excluded), ``index`` of ``of`` in its table."""

    source: CopySource
    low: int
    high: int
    index: int
    of: int
    part: str = ""  # the database's B connection id: which sessions copy it

    @property
    def table(self) -> str:
        return f"{self.source.schema}.{self.source.table}"

    @property
    def estimated_bytes(self) -> int:
        blocks = max(1, math.ceil(self.source.bytes / self.source.block_size))
        span = min(self.high, blocks) - self.low
        return max(0, span) * self.source.block_size

    def bounds(self) -> tuple[str, str]:
        """The range as two ``tid`` texts."""
        return f"({self.low},0)", f"({self.high},0)"


def lsn_value(lsn: str) -> int:
    """A ``pg_lsn`` text (``16/B374D848``) as a number, for comparing two positions."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def split(sources: list[CopySource], workers: int, part: str = "") -> list[CopyRange]:
    """Every source in ranges of about ``total / (workers * RANGES_PER_WORKER)`` bytes (at least
    :data:`MIN_RANGE_BYTES`), largest first, so that the pool ends with small pieces."""
    total = sum(s.bytes for s in sources)
    target = max(MIN_RANGE_BYTES, total // max(1, workers * RANGES_PER_WORKER))
    ranges: list[CopyRange] = []
    for source in sources:
        blocks = math.ceil(source.bytes / source.block_size)
        pieces = max(1, math.ceil(source.bytes / target))
        step = max(1, math.ceil(blocks / pieces))
        lows = list(range(0, blocks, step)) or [0]
        for i, low in enumerate(lows):
            high = lows[i + 1] if i + 1 < len(lows) else MAX_BLOCK
            ranges.append(CopyRange(source, low, high, i + 1, len(lows), part))
    return ranges
