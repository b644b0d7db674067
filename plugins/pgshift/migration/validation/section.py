"""What a validation found, per database: one :class:`Section` each, merged into one report (see
:mod:`pgshift.migration.validation.chain` for the report's shape)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Section:
    """What the validation found of one database, or (``database`` None) of the chain or the cluster: problems and
    notes as the user reads them, figures for the chart, and the rest of the report's section."""

    database: str | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def named(self, message: str) -> str:
        """``message`` as the chain's report says it: naming the database it is about."""
        return message if self.database is None else f"database {self.database}: {message}"

    def as_report(self) -> dict[str, Any]:
        return {"figures": self.figures, **self.report, "problems": self.problems, "notes": self.notes}


def merged_notes(sections: Iterable[Section]) -> list[str]:
    """The sections' notes for the report's list, each naming its database; a note several databases share (a
    role in scope of each: roles are the server's) said once, naming them all (``databases pgshift, billing: ...``);
    each section keeps its own."""
    by_note: dict[str, list[str]] = {}
    for section in sections:
        for note in section.notes:
            by_note.setdefault(note, []).append(section.database or "")
    return [f"database {names[0]}: {note}" if len(names) == 1 else f"databases {', '.join(names)}: {note}"
            for note, names in by_note.items()]


def merge(top: Section, sections: dict[str, Section]) -> None:
    """``sections`` into the report ``top`` is: their problems and notes named (:func:`merged_notes`), and each
    under ``databases.<name>``."""
    top.problems += [section.named(p) for section in sections.values() for p in section.problems]
    top.notes += merged_notes(sections.values())
    top.report["databases"] = {name: section.as_report() for name, section in sections.items()}
