"""The base of the operators that check the whole chain (preflight, validation)."""

from __future__ import annotations

from pgshift.migration.config import ChainConfig
from pgshift.migration.operators.configured import ConfiguredOperator


class ChainOperator(ConfiguredOperator):
    """Takes the chain's configuration (``config``); :meth:`spec` is what its checks
    (:mod:`pgshift.migration.preflight.checks`) read. It runs no check itself: subclasses call the ones they need."""

    def spec(self) -> ChainConfig:
        return self.chain
