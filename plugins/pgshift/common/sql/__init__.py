"""pgshift's SQL: one ``<name>.sql`` file per statement, shipped inside the package and loaded by name.

Each domain keeps its statements in its own ``sql`` package: ``pgshift.common.sql`` (this one: what
:class:`~pgshift.common.hooks.postgres.PgShiftHook` itself runs, or what both domains run),
``pgshift.migration.sql`` and ``pgshift.citus.sql``. A hook finds its domain's SQL through its class attribute
``sql_package`` (the dotted name of that package); a name not found there is looked up here, in the common
package, so a domain hook also runs the statements of the base hook's methods. A name lives in exactly one
package (``tests/test_provider_package.py`` checks it), so the lookup order never picks between two files.

The files are package data read with :mod:`importlib.resources`, so they load the same from a checkout, an
editable install, a wheel or a zip. Identifiers are bound with :mod:`psycopg2.sql`, never formatted in.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # psycopg2 is imported where a statement is composed, not when a DAG file is parsed
    from psycopg2 import sql as pgsql


COMMON = __name__
PACKAGES = (COMMON, "pgshift.migration.sql", "pgshift.citus.sql")


def names(package: str = COMMON) -> list[str]:
    """Every SQL file ``package`` ships, by name (without ``.sql``), sorted."""
    return sorted(entry.name.removesuffix(".sql") for entry in files(package).iterdir()
                  if entry.name.endswith(".sql"))


@cache
def load(name: str, package: str = COMMON) -> str:
    """The text of ``<name>.sql`` from ``package``, else from the common package."""
    for where in dict.fromkeys((package, COMMON)):
        resource = files(where).joinpath(f"{name}.sql")
        if resource.is_file():
            return resource.read_text(encoding="utf-8")
    raise FileNotFoundError(f"pgshift ships no SQL file named {name!r} (package {package})")


def compose(name: str, package: str = COMMON, /, **identifiers: str | pgsql.Composable) -> pgsql.Composable:
    """``load(name)`` with ``{placeholders}`` bound to quoted identifiers (or ready Composables).

    A qualified name ``schema.table`` must be passed as a Composable built with :func:`qualified`;
    a plain string is always one identifier.
    """
    from psycopg2 import sql as pgsql

    text = load(name, package)
    if not identifiers:
        return pgsql.SQL(text)
    bound = {k: v if isinstance(v, pgsql.Composable) else pgsql.Identifier(v) for k, v in identifiers.items()}
    return pgsql.SQL(text).format(**bound)


def qualified(schema: str, name: str) -> pgsql.Composable:
    from psycopg2 import sql as pgsql

    return pgsql.Identifier(schema, name)
