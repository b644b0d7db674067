"""Step 8 of the parallel copy: what pg_dump calls post-data (indexes, primary keys and other constraints, triggers,
rules, policies, replica identities) built on C after the data, with ``copy_workers`` pg_restore jobs; then A's and
C's schemas must agree (:func:`pgshift.migration.schema.drift.drift`, B read for A).

A retry of the task after this step began finds some of these objects on C already: pg_restore then reports them
("already exists") and goes on with the rest; what decides is the comparison that follows, not pg_restore's exit
status.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.setup.binaries import client_tool
from pgshift.migration.setup.databases import about
from pgshift.migration.setup.dump import run_tool, scope_args

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.config import ChainConfig


def restore_post_data(part: ChainConfig, jobs: int, bin_dir: str | None, log: Logger) -> dict[str, Any]:
    """pg_dump's post-data of ``part``'s scope from B, restored on C with ``jobs`` jobs; refuses if C's schema then
    differs from B's. Returns the figures."""
    import time

    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.schema.drift import drift
    from pgshift.migration.scope import Scope

    scope = Scope.from_params(part.schemas, part.tables)
    with StandbyHook(part.conn_b) as src, TargetHook(part.conn_c) as dst:
        src_env, dst_env = src.libpq_env(), dst.libpq_env()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pgshift-post-data-") as tmp:
        dump = str(Path(tmp) / "post-data")
        run_tool([client_tool("pg_dump", bin_dir), *scope_args(scope), "--section=post-data", "--format=directory",
                  f"--file={dump}"], src_env, about(part, "pg_dump of the indexes and constraints on B"))
        restored = run_tool([client_tool("pg_restore", bin_dir), "--section=post-data", f"--jobs={max(1, jobs)}",
                             f"--dbname={dst_env['PGDATABASE']}", dump], dst_env,
                            about(part, "pg_restore of the indexes and constraints on C"), check=False)
    seconds = round(time.monotonic() - started, 3)
    with StandbyHook(part.conn_b) as src, TargetHook(part.conn_c) as dst:
        found = drift(src, dst, scope)
    if not found.ok:
        raise AirflowFailException(about(part, "after the indexes and constraints were built, C's schema differs from "
                                               "B's: " + "; ".join(found.problems())
                                               + (f"; pg_restore said: {restored.stderr.strip()[-2000:]}"
                                                  if restored.returncode else "")))
    if restored.returncode:
        log.warning(about(part, "pg_restore reported errors (objects an earlier attempt made already?), and C's "
                                "schema equals B's: %s"), restored.stderr.strip()[-2000:])
    log.info(about(part, "Indexes, constraints and triggers built on C with %d job(s) in %.1f s"), jobs, seconds)
    return {"seconds": seconds, "jobs": jobs, "pg_restore_exit": restored.returncode}
