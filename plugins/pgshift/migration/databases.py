"""Which databases a chain migrates: ``databases`` resolved against A, before anything changes.

``databases`` is empty (the one database ``conn_a`` names: a chain as it always was), a list of names, or ``["*"]``:
every database of A that is not a template and allows connections. ``*`` is resolved once, by the ``configuration``
task of the run that is given it (a setup, normally), into the names A has then, in name order; a setup records
those names, not ``*``, so that a database created on A later is never cut over without having been set up (a
validation names it instead: :func:`unmigrated_databases`). Names are checked to exist on A by the same task for a
setup, and again by the cutover's gate before the fence (:func:`missing_databases`).

Each database's part of the chain is :meth:`pgshift.migration.config.ChainConfig.in_database`: its own
publication, slot, subscription (or DMS endpoints and task) and way back, with connection ids qualified by the
database (``pg_a/orders``); roles are the server's and are migrated once.
"""

from __future__ import annotations

import dataclasses

from pgshift.migration.config import ALL_DATABASES, Action, ChainConfig, ConfigError


def missing_databases(chain: ChainConfig, on_a: list[str]) -> list[str]:
    """The chain's databases that A does not have (or that take no connections), in the chain's order."""
    return [name for name in chain.databases if name != ALL_DATABASES and name not in on_a]


def unmigrated_databases(chain: ChainConfig, on_a: list[str]) -> list[str]:
    """A's databases a chain of named databases leaves behind (an empty ``databases`` says nothing of others)."""
    return [name for name in on_a if chain.databases and name not in chain.databases]


def resolved_for_run(chain: ChainConfig) -> ChainConfig:
    """The run's configuration with its databases resolved against A: for a setup (names checked to exist before
    anything changes) and for any run given ``*``; other runs (the recorded names) are returned as they are, their
    databases checked where they are used."""
    from pgshift.migration.hooks.base import MigrationHook

    if not chain.databases or (chain.action != Action.SETUP and ALL_DATABASES not in chain.databases):
        return chain
    with MigrationHook(chain.with_source().conn_a) as a:  # B's databases once B was promoted (A lost)
        return resolve_databases(chain, a.migratable_databases())


def resolve_databases(chain: ChainConfig, on_a: list[str]) -> ChainConfig:
    """``chain`` with ``*`` replaced by ``on_a``, and refused (:class:`ConfigError`, naming them) when a named
    database is not on A. An empty ``databases`` is left as it is."""
    if chain.databases == (ALL_DATABASES,):
        if not on_a:
            raise ConfigError(["databases: ['*'] found no database on A that allows connections"])
        resolved = dataclasses.replace(chain, databases=tuple(on_a))
        if problems := resolved.database_problems():
            raise ConfigError([*problems, "name the databases instead of '*'"])
        return resolved
    if missing := missing_databases(chain, on_a):
        raise ConfigError([f"databases: {', '.join(missing)} not on A (A has {', '.join(on_a) or 'none'} that "
                           "allow connections)"])
    return chain
