"""``count`` readings in bounds in a row within a window: the loop of every gate that counts its readings (the
cutover's gate task, :class:`~pgshift.migration.operators.cutover.CutoverGateOperator`; the fallback's gate, of one
database or of several). A reading out of bounds starts the count again: a passing blip should not cancel a change
window. What a reading is, what waiting cannot fix (the reading raises) and the words of the refusal are the
caller's; the loop, its log lines and the shape of the refusal are here, the same for all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

T = TypeVar("T")

Reading = Callable[[int], tuple[list[str], T]]  # reading number (from 1) -> its problems (none: in bounds), figures


@dataclass(frozen=True)
class Refusal:
    """A gate's words around its refusal: ``<refused>: not N readings in bounds in a row within W s (T taken);
    <untouched>. <last>:``, then the problems of the last reading out of bounds, one a line."""

    refused: str  # "Cutover refused before the fence"
    untouched: str  # "A was not touched"
    last: str  # "Last reading out of bounds"

    def message(self, count: int, window: float, taken: int, problems: list[str]) -> str:
        return (f"{self.refused}: not {count} readings in bounds in a row within {window:g} s ({taken} taken); "
                f"{self.untouched}. {self.last}:\n" + "\n".join(f"  - {p}" for p in problems))


def readings_in_a_row(read: Reading[T], *, count: int, window: float, interval: float, refusal: Refusal,
                      log: Logger, name: str, said: Callable[[T], str]) -> list[T]:
    """``read`` every ``interval`` seconds until ``count`` readings in a row have no problem; returns those
    readings' figures, oldest first. Raises :class:`AirflowFailException` with ``refusal``'s message when ``count``
    in a row cannot come within ``window`` seconds of the start (a reading is not begun when the next interval would
    end past it). Each reading is logged as ``<name> reading N ...``: out of bounds with its problems, in bounds
    with the count so far and ``said(figures)``."""
    deadline = time.monotonic() + window
    kept: list[T] = []
    in_a_row, taken = 0, 0
    last: list[str] = []
    while True:
        taken += 1
        problems, figures = read(taken)
        kept = [*kept[-count:], figures]
        if problems:
            in_a_row, last = 0, problems
            log.warning("%s reading %d out of bounds: %s", name, taken, "; ".join(problems))
        else:
            in_a_row += 1
            log.info("%s reading %d in bounds (%d/%d in a row): %s", name, taken, in_a_row, count, said(figures))
        if in_a_row >= count:
            return kept[-count:]
        if time.monotonic() + interval > deadline:
            raise AirflowFailException(refusal.message(count, window, taken, last))
        time.sleep(interval)
