"""The cutover task's rendered settings, which :mod:`~pgshift.migration.switchover.cutover.phases` and each
phase mixin (access, fallback, verify) read: in a module of their own so the mixins do not import the run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pgshift.migration.config import Mode, Verify

if TYPE_CHECKING:
    from pgshift.migration.access.sync import AccessSpec


@dataclass(frozen=True)
class CutoverSettings:
    """The rendered fields of the cutover task that its phases use."""

    run_id: str
    mode: Mode
    conn_a: str
    conn_b: str
    conn_c: str
    slot: str
    subscription: str
    drain_timeout: float
    parallelism: int
    aws_conn_id: str | None
    dms_task_id: str | None
    run_dir: Path
    access: AccessSpec  # the roles and objects C must have for the application
    app_role_connections: dict[str, str]  # app role -> connection id logging in to C as it (the login proof)
    publication: str = "pgshift_pub"  # the chain's publication: what the delta check decodes
    verify: Verify = Verify.DELTA  # see pgshift.migration.switchover.cutover.verify_phases
    max_replay_pause: float = 300.0  # longest pause of B's replay at one frozen point
    max_write_downtime: float = 60.0  # the forecast's limit
    database: str | None = None  # a chain of several databases: the one these settings are about (None: one database)

    @property
    def fence_path(self) -> Path:
        """The fence record: written before the fence is applied, so an interrupted attempt can be undone."""
        return self.run_dir / "fence.json"
