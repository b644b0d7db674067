"""A BaseNotifier that appends its rendered ``text`` to a file: the deadline alert made observable."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier


class FileNotifier(BaseNotifier):
    """Appends ``text`` (a template: ``{{ message }}``, ``{{ run_id }}``...) as one line to ``path``."""

    template_fields: Sequence[str] = ("path", "text")

    def __init__(self, path: str, text: str = "{{ message }}") -> None:
        super().__init__()
        self.path = path
        self.text = text

    def _append(self) -> None:
        with Path(self.path).open("a", encoding="utf-8") as out:
            out.write(self.text.replace("\n", " ") + "\n")

    async def async_notify(self, context: Any) -> None:
        await asyncio.to_thread(self._append)  # file I/O off the triggerer's event loop

    def notify(self, context: Any) -> None:
        self._append()
