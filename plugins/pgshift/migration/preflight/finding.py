"""What one preflight check returns: the facts it read and what it found wrong (:class:`Finding`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Finding:
    """What one check read (``facts``, returned in the operator's XCom) and what it found wrong."""

    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # worth a line in the log, not a refusal
