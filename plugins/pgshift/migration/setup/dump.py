"""pg_dump and pg_restore for the B -> C schema copy: the scope's arguments and one way of running them (the
connection in PG* variables, never on a command line)."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowException

if TYPE_CHECKING:
    from pgshift.migration.scope import Scope

TOOL_TIMEOUT = 12 * 3600  # an index build at production size takes hours; the task's execution_timeout bounds it


def pattern(name: str) -> str:
    """A pg_dump pattern matching exactly this name."""
    return '"' + name.replace('"', '""') + '"'


def scope_args(scope: Scope) -> list[str]:
    """pg_dump's arguments for the schema of ``scope``'s tables (no publications, no subscriptions)."""
    args = ["--schema-only", "--no-publications", "--no-subscriptions"]
    if not scope.all_tables:
        args += [f"--schema={pattern(s)}" for s in scope.schemas]
        args += [f"--table={pattern(s)}.{pattern(t)}" for s, t in scope.tables]
    return args


def run_tool(argv: list[str], env: dict[str, str], what: str, *,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a client program with ``env`` (PG* variables) added; a failure raises naming ``what`` and the end of its
    stderr, unless ``check`` is False."""
    proc = subprocess.run(argv, check=False, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=TOOL_TIMEOUT)
    if check and proc.returncode:
        raise AirflowException(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-4000:]}")
    return proc
