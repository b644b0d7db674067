"""The base of every operator and sensor of ``hybrid_aurora_migration``: the run's chain configuration as one
templated value, ``config``, and :attr:`ConfiguredOperator.chain`, that value typed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.config import ChainConfig, ConfigError, Source

ConfigArg = ChainConfig | Mapping[str, object] | str
"""What ``config`` holds: a ChainConfig (built in Python), its values by Param name (the ``configuration`` task's
``['config']``, rendered as a native object), or the template before rendering."""


class ConfiguredOperator(BaseOperator):
    """Takes ``config``, the chain's configuration, besides its task-specific arguments; reads it as :attr:`chain`.

    In the DAG, ``config`` is the template of the ``configuration`` task's ``['config']`` (the DAG renders
    templates as native objects); in Python, a :class:`~pgshift.migration.config.ChainConfig`.
    """

    template_fields: Sequence[str] = ("config",)
    # B in A's place once the record says B was promoted (ChainConfig.with_source); promote_b itself asks the real A
    source_in_a_place: ClassVar[bool] = True

    def __init__(self, *, config: ConfigArg, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self._typed: tuple[object, ChainConfig] | None = None

    @property
    def chain(self) -> ChainConfig:
        """The rendered ``config`` as a ChainConfig, with the chain's source in A's place
        (:meth:`ChainConfig.with_source`); a value that does not fit fails the task, naming the keys."""
        if self._typed is None or self._typed[0] is not self.config:
            try:
                chain = ChainConfig.from_values(self.config)
                self._typed = (self.config, chain.with_source() if self.source_in_a_place else chain)
            except ConfigError as exc:
                raise AirflowFailException(f"{self.task_id}: {exc}; nothing was changed") from exc
        return self._typed[1]

    def pre_execute(self, context: Context) -> None:
        """Say it once, first, when B stands in A's place: the runbooks' messages keep calling the source "A"."""
        if self.source_in_a_place and self.chain.source == Source.B:
            self.log.warning("B was promoted (action=promote_b, A lost) and is the chain's source: it stands in A's "
                             "place, so what this task's messages call A is B (connection %s)", self.chain.conn_a)
