"""Validation after the cutover: the way back, C -> A, instead of a chain that no longer exists.

While the chain's record says the way back is armed (:func:`pgshift.migration.configuration.fallback_state`), a
scheduled
or manual ``validate`` checks:

- C -> A lag: C's current WAL position against the confirmed position of the way back's slot on C
  (``fallback_subscription_name``), in bytes, judged by ``cdc_lag_max_bytes`` (the chain's logical replication
  limit); it goes on the lag chart as its own series.
- The slot on C: present, active, not invalidated; its ``wal_status`` and the WAL it keeps on C, judged as the
  chain's validation judges B's slot, by the same code (:mod:`pgshift.migration.checks.slot`) and the same limits
  (``max_retained_wal_bytes``, ``min_safe_wal_bytes``): the WAL pressure is on C now.
- A's subscription: enabled and applying, else named as stopped; apply/sync errors judged current or recovered
  (:mod:`pgshift.migration.checks.reverse`).
- Sampled parity C vs A (:mod:`pgshift.migration.validation.sampling`, C as the source), once A has confirmed C's
position; only when
  the way back is healthy. ``parity=full`` is the chain's frozen-point check of B: after the cutover it samples.

B is not checked: it follows A physically, and nothing is read on it.

**Several databases** (``databases``): the way back is each database's (its slot and publication on C, A's
subscription in that database: :meth:`ChainConfig.in_database`'s ``fallback_*`` names), so every check above runs
per database, with that database's part, into a section of its own (:mod:`pgshift.migration.validation.section`):
the report's ``databases.<name>``, each problem naming its database, one C -> A series per database on the chart. A
chain with an empty ``databases`` keeps its report as it was.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pgshift.migration.validation.section import Section, merge

if TYPE_CHECKING:  # the checks are imported where the task runs, not when the DAG file is parsed
    from pgshift.migration.checks.slot import WalLimits
    from pgshift.migration.config import ChainConfig
    from pgshift.migration.hooks.target import TargetHook


class ReverseConfirmTimeout(Exception):
    """A did not confirm C's position in time (or the slot is gone)."""


def wait_reverse_confirmed(c: TargetHook, slot: str, lsn: str, timeout: float) -> None:
    """Wait until the way back's slot on C has ``confirmed_flush_lsn >= lsn`` (A has everything up to there)."""
    deadline = time.monotonic() + timeout
    while True:
        state = c.reverse_slot(slot, lsn)
        if state is None:
            raise ReverseConfirmTimeout(f"slot {slot!r} is not on C: nothing can confirm {lsn}")
        if state.confirmed:
            return
        if time.monotonic() > deadline:
            raise ReverseConfirmTimeout(f"A did not confirm C's position {lsn} within {timeout:g} s: slot {slot!r} "
                                        f"confirmed {state.confirmed_flush_lsn}")
        time.sleep(0.05)


class ReverseValidation:
    """The way back's part of :class:`~pgshift.migration.operators.validate.ValidateChainOperator` (its ``chain``)."""

    if TYPE_CHECKING:  # the operator's (pgshift.migration.operators.configured.ConfiguredOperator.chain)
        @property
        def chain(self) -> ChainConfig: ...

    def wal_limits(self) -> WalLimits:
        """What either direction's slot must keep of its WAL: one floor and one limit for B's slot and C's."""
        from pgshift.migration.checks.slot import WalLimits

        return WalLimits(min_safe_wal_bytes=self.chain.min_safe_wal_bytes,
                         max_retained_wal_bytes=self.chain.max_retained_wal_bytes)

    def validate_way_back(self, top: Section) -> dict[str, Section]:
        """Every check above into ``top`` (the report's own lists) for a chain of one unnamed database; else per
        database, into the sections returned (merged into ``top`` too)."""
        if not self.chain.several_databases:
            self._way_back(self.chain, top)
            return {}
        sections = {part.database or "": Section(part.database) for part in self.chain.database_chains()}
        for part in self.chain.database_chains():
            self._way_back(part, sections[part.database or ""])
        merge(top, sections)
        return sections

    def _way_back(self, part: ChainConfig, section: Section) -> None:
        healthy = self._reverse_slot(part, section.problems, section.figures)
        healthy = self._reverse_subscription(part, section.problems, section.notes, section.figures) and healthy
        section.report["parity"] = self._reverse_parity(part, section.problems, section.notes, healthy)

    def _reverse_slot(self, part: ChainConfig, problems: list[str], figures: dict[str, Any]) -> bool:
        from pgshift.migration.checks.reverse import C_SLOT, ReverseLagCheck
        from pgshift.migration.checks.slot import slot_wal_problems, wal_unreserved
        from pgshift.migration.hooks.states import SlotState

        reading = ReverseLagCheck(conn_c=part.conn_c, slot=part.fallback_subscription_name,
                                  max_bytes=part.cdc_lag_max_bytes).read()
        if not reading.done:
            problems.append(f"C -> A: {reading.message}")
        if not reading.details:  # no slot, or C could not be read
            return False
        slot = SlotState(**reading.details)
        figures.update({"c_to_a_lag_bytes": slot.lag_bytes, "c_current_lsn": slot.position_lsn,
                        "reverse_slot_active": slot.active, "reverse_slot_wal_status": slot.wal_status,
                        "reverse_slot_safe_wal_size": slot.safe_wal_size,
                        "reverse_slot_retained_bytes": slot.retained_bytes,
                        "reverse_slot_invalidation_reason": slot.invalidation_reason})
        if reading.fatal:
            return False
        problems += slot_wal_problems(slot, C_SLOT, self.wal_limits())
        return reading.done and not wal_unreserved(slot)

    def _reverse_subscription(self, part: ChainConfig, problems: list[str], notes: list[str],
                              figures: dict[str, Any]) -> bool:
        from pgshift.migration.checks.reverse import ReverseSubscriptionCheck

        reading = ReverseSubscriptionCheck(conn_a=part.conn_a, subscription=part.fallback_subscription_name).read()
        if not reading.done:
            problems.append(reading.message)
        elif reading.warning:
            notes.append(reading.message)
        st = reading.details
        if st:
            figures.update({"reverse_subscription_enabled": st.get("enabled"),
                            "reverse_apply_worker_pid": st.get("apply_worker_pid"),
                            "reverse_apply_error_count": st.get("apply_error_count"),
                            "reverse_sync_error_count": st.get("sync_error_count"),
                            "reverse_subscription_errors": st.get("errors")})
        return reading.done

    def _reverse_parity(self, part: ChainConfig, problems: list[str], notes: list[str],
                        healthy: bool) -> list[dict[str, Any]]:
        if part.parity == "off":
            return []
        if not healthy:
            notes.append("parity not checked: the way back (C -> A) is not healthy, so A is expected to differ")
            return []
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.hooks.target import TargetHook
        from pgshift.migration.scope import Scope
        from pgshift.migration.validation.sampling import WAY_BACK, parity_findings, sample_between

        if part.parity == "full":
            notes.append("parity=full compares B and C at a frozen point of the chain; after the cutover the way "
                         "back is sampled instead (C vs A)")
        scope = Scope.from_params(part.schemas, part.tables)
        started = time.monotonic()
        with TargetHook(part.conn_c) as c, PrimaryHook(part.conn_a) as a:
            tables = [(t.schema, t.table) for t in c.scope_tables(scope, "public")]

            def position() -> str:  # C's current WAL position, read with the slot
                state = c.reverse_slot(part.fallback_subscription_name)
                if state is None or state.position_lsn is None:  # (a primary always has a current position)
                    raise ReverseConfirmTimeout(f"slot {part.fallback_subscription_name!r} is not on C")
                return state.position_lsn

            def confirmed(lsn: str) -> None:
                wait_reverse_confirmed(c, part.fallback_subscription_name, lsn, part.drain_timeout_seconds)

            results = sample_between(c, a, tables, part.parity_sample_rows, position, confirmed, WAY_BACK)
        parity_findings(results, "sample, C vs A", len(tables), time.monotonic() - started, problems, notes)
        return results
