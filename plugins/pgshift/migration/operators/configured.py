"""The base of every operator and sensor of ``hybrid_aurora_migration``: the run's chain configuration as one
templated value, ``config``, and :attr:`ConfiguredOperator.chain`, that value typed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.config import ChainConfig, ConfigError

ConfigArg = ChainConfig | Mapping[str, object] | str
"""What ``config`` holds: a ChainConfig (built in Python), its values by Param name (the ``configuration`` task's
``['config']``, rendered as a native object), or the template before rendering."""


class ConfiguredOperator(BaseOperator):
    """Takes ``config``, the chain's configuration, besides its task-specific arguments; reads it as :attr:`chain`.

    In the DAG, ``config`` is the template of the ``configuration`` task's ``['config']`` (the DAG renders
    templates as native objects); in Python, a :class:`~pgshift.migration.config.ChainConfig`.
    """

    template_fields: Sequence[str] = ("config",)

    def __init__(self, *, config: ConfigArg, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self._typed: tuple[object, ChainConfig] | None = None

    @property
    def chain(self) -> ChainConfig:
        """The rendered ``config`` as a ChainConfig; a value that does not fit fails the task, naming the keys."""
        if self._typed is None or self._typed[0] is not self.config:
            try:
                self._typed = (self.config, ChainConfig.from_values(self.config))
            except ConfigError as exc:
                raise AirflowFailException(f"{self.task_id}: {exc}; nothing was changed") from exc
        return self._typed[1]
