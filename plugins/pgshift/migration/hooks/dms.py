"""The amazon provider's :class:`DmsHook` with pgshift's DMS waiters (``pgshift/migration/waiters/dms.json``).

Imports the amazon provider: imported where a task or a trigger runs, never when a DAG file is parsed.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.providers.amazon.aws.hooks.dms import DmsHook

WAITERS = Path(__file__).resolve().parents[1] / "waiters" / "dms.json"


class PgShiftDmsHook(DmsHook):
    """:class:`DmsHook` whose custom waiters are pgshift's: ``get_waiter(name)`` finds them by name, synchronous
    or (``deferrable=True`` with an aiobotocore client) asynchronous, besides botocore's own DMS waiters."""

    @property
    def waiter_path(self) -> os.PathLike[str]:
        return WAITERS
