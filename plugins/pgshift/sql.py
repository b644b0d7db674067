"""SQL lives in ``include/sql/*.sql`` and is loaded by name; identifiers are bound, never formatted."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from psycopg2 import sql

# plugins/pgshift/sql.py -> project root; the same relative layout holds in the Docker image
# (/opt/airflow/{plugins,include}). PGSHIFT_SQL_DIR overrides it for other deployments.
_DEFAULT_DIR = Path(__file__).resolve().parents[2] / "include" / "sql"


def sql_dir() -> Path:
    return Path(os.environ.get("PGSHIFT_SQL_DIR", _DEFAULT_DIR))


@cache
def load(name: str) -> str:
    """The text of ``include/sql/<name>.sql``."""
    path = sql_dir() / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file named {name!r} in {sql_dir()}")
    return path.read_text()


def compose(name: str, **identifiers: str | sql.Composable) -> sql.Composable:
    """``load(name)`` with ``{placeholders}`` bound to quoted identifiers (or ready Composables).

    A qualified name ``schema.table`` must be passed as a tuple-free Composable built with
    :func:`qualified`; a plain string is always one identifier.
    """
    text = load(name)
    if not identifiers:
        return sql.SQL(text)
    bound = {k: v if isinstance(v, sql.Composable) else sql.Identifier(v) for k, v in identifiers.items()}
    return sql.SQL(text).format(**bound)


def qualified(schema: str, name: str) -> sql.Composable:
    return sql.Identifier(schema, name)
