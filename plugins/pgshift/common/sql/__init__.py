"""pgshift's SQL: one ``<name>.sql`` file per statement, shipped inside this package and loaded by name.

The files are package data read with :mod:`importlib.resources`, so they load the same from a checkout, an
editable install, a wheel or a zip. Identifiers are bound with :mod:`psycopg2.sql`, never formatted in.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # psycopg2 is imported where a statement is composed, not when a DAG file is parsed
    from psycopg2 import sql as pgsql


def names() -> list[str]:
    """Every SQL file this package ships, by name (without ``.sql``), sorted."""
    return sorted(entry.name.removesuffix(".sql") for entry in files(__name__).iterdir()
                  if entry.name.endswith(".sql"))


@cache
def load(name: str) -> str:
    """The text of the packaged ``<name>.sql``."""
    resource = files(__name__).joinpath(f"{name}.sql")
    if not resource.is_file():
        raise FileNotFoundError(f"pgshift ships no SQL file named {name!r} (package {__name__})")
    return resource.read_text(encoding="utf-8")


def compose(name: str, **identifiers: str | pgsql.Composable) -> pgsql.Composable:
    """``load(name)`` with ``{placeholders}`` bound to quoted identifiers (or ready Composables).

    A qualified name ``schema.table`` must be passed as a Composable built with :func:`qualified`;
    a plain string is always one identifier.
    """
    from psycopg2 import sql as pgsql

    text = load(name)
    if not identifiers:
        return pgsql.SQL(text)
    bound = {k: v if isinstance(v, pgsql.Composable) else pgsql.Identifier(v) for k, v in identifiers.items()}
    return pgsql.SQL(text).format(**bound)


def qualified(schema: str, name: str) -> pgsql.Composable:
    from psycopg2 import sql as pgsql

    return pgsql.Identifier(schema, name)
