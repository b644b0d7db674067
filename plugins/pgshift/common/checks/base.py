"""A wait as data: a frozen dataclass of JSON-able fields that takes one reading.

A sensor reads its check in the worker; to wait longer it hands the same object to
:class:`~pgshift.common.triggers.poll.PgShiftPollTrigger`, which stores it the way Airflow stores a trigger:
a classpath and the fields (``{"classpath": ..., "fields": {...}}``), and the triggerer rebuilds it from
them. So a check's module is part of the installed provider (the triggerer imports it too) and imports no
driver or provider hook at module level (sensors import it when a DAG file is parsed): the reading imports
what it needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from pgshift.common.checks.result import CheckResult

JSON_PRIMITIVES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Check:
    """Subclasses are frozen dataclasses: they set ``name`` and implement :meth:`take_reading`."""

    name: ClassVar[str] = "check"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, JSON_PRIMITIVES):
                raise TypeError(f"{type(self).__name__}.{f.name} must be a JSON primitive to travel to the "
                                f"triggerer, got {type(value).__name__}")

    def take_reading(self) -> CheckResult:
        raise NotImplementedError

    def read(self) -> CheckResult:
        """One reading; a failure to read (a connection error...) is a reading ("not done"), not a crash."""
        try:
            return self.take_reading()
        except Exception as exc:  # noqa: BLE001 - any failure to read is "not done", reported as such
            return CheckResult(False, f"{self.name}: could not read the figures: {type(exc).__name__}: {exc}".strip())

    def serialize(self) -> dict[str, Any]:
        cls = type(self)
        return {"classpath": f"{cls.__module__}.{cls.__qualname__}",
                "fields": {f.name: getattr(self, f.name) for f in fields(self)}}

    @staticmethod
    def deserialize(data: Mapping[str, Any]) -> Check:
        """The check :meth:`serialize` described; only a :class:`Check` subclass is ever built."""
        module, _, name = str(data["classpath"]).rpartition(".")
        cls = getattr(importlib.import_module(module), name, None) if module else None
        if not (isinstance(cls, type) and issubclass(cls, Check)):
            raise ValueError(f"{data['classpath']!r} is not a pgshift check")
        return cls(**data["fields"])
