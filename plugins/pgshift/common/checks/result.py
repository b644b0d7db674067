"""What a check says: done or not, why, the figures it read, and whether waiting is pointless."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CheckResult:
    done: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    fatal: bool = False  # waiting cannot help: fail now, quoting the message
    warning: bool = False  # worth a warning in the log while the wait goes on

    def as_event(self) -> dict[str, Any]:
        return asdict(self)
