"""Validation after the cutover: the way back, C -> A, instead of a chain that no longer exists.

While the chain's record says the way back is armed (:func:`pgshift.migration.configuration.fallback_state`), a
scheduled
or manual ``validate`` checks:

- C -> A lag: C's current WAL position against the confirmed position of the way back's slot on C
  (``fallback_subscription_name``), in bytes, judged by ``cdc_lag_max_bytes`` (the chain's logical replication
  limit); it goes on the lag chart as its own series.
- The slot on C: present, active, not invalidated; its ``wal_status`` and the WAL it keeps on C, judged by the
  limits the chain's validation applies to B's slot (``max_retained_wal_bytes``, ``min_safe_wal_bytes``): the WAL
  pressure is on C now.
- A's subscription: enabled and applying, else named as stopped; apply/sync errors judged current or recovered
  (:mod:`pgshift.migration.checks.reverse`).
- Sampled parity C vs A (:mod:`pgshift.migration.validation.sampling`, C as the source), once A has confirmed C's
position; only when
  the way back is healthy. ``parity=full`` is the chain's frozen-point check of B: after the cutover it samples.

B is not checked: it follows A physically, and nothing is read on it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pgshift.migration.checks.reverse import ReverseLagCheck, ReverseSubscriptionCheck

if TYPE_CHECKING:
    from pgshift.migration.config import ChainConfig
    from pgshift.migration.hooks.target import TargetHook


def lsn_value(lsn: str) -> int:
    """A pg_lsn's text (``16/B374D848``) as a number, to compare two positions."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


class ReverseConfirmTimeout(Exception):
    """A did not confirm C's position in time (or the slot is gone)."""


def wait_reverse_confirmed(c: TargetHook, slot: str, lsn: str, timeout: float) -> None:
    """Wait until the way back's slot on C has ``confirmed_flush_lsn >= lsn`` (A has everything up to there)."""
    deadline = time.monotonic() + timeout
    while True:
        state = c.reverse_slot(slot)
        if state is None:
            raise ReverseConfirmTimeout(f"slot {slot!r} is not on C: nothing can confirm {lsn}")
        if state.confirmed_flush_lsn and lsn_value(state.confirmed_flush_lsn) >= lsn_value(lsn):
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

    def validate_way_back(self, cdc_lag_max_bytes: int, problems: list[str], notes: list[str],
                          figures: dict[str, Any], report: dict[str, Any]) -> None:
        """Every check above; problems and notes appended, figures and report filled."""
        healthy = self._reverse_slot(cdc_lag_max_bytes, problems, figures)
        healthy = self._reverse_subscription(problems, notes, figures) and healthy
        report["parity"] = self._reverse_parity(problems, notes, healthy)

    def _reverse_slot(self, max_bytes: int, problems: list[str], figures: dict[str, Any]) -> bool:
        slot = self.chain.fallback_subscription_name
        reading = ReverseLagCheck(conn_c=self.chain.conn_c, slot=slot, max_bytes=max_bytes).read()
        if not reading.done:
            problems.append(f"C -> A: {reading.message}")
        st = reading.details
        if not st:  # no slot, or C could not be read
            return False
        figures.update({"c_to_a_lag_bytes": st["lag_bytes"], "c_current_lsn": st["current_lsn"],
                        "reverse_slot_active": st["active"], "reverse_slot_wal_status": st["wal_status"],
                        "reverse_slot_safe_wal_size": st["safe_wal_size"],
                        "reverse_slot_retained_bytes": st["retained_bytes"],
                        "reverse_slot_invalidation_reason": st["invalidation_reason"]})
        if reading.fatal:
            return False
        healthy = reading.done
        if st["wal_status"] == "unreserved":
            problems.append(f"the way back's slot {slot!r} on C is unreserved: its WAL is about to be removed "
                            "(max_slot_wal_keep_size); A must catch up now, or the way back is lost")
            healthy = False
        if st["safe_wal_size"] is not None and st["safe_wal_size"] < self.chain.min_safe_wal_bytes:
            problems.append(f"the way back's slot {slot!r} on C is {st['safe_wal_size']} bytes from losing its WAL "
                            f"(floor {self.chain.min_safe_wal_bytes})")
        if st["retained_bytes"] is not None and st["retained_bytes"] > self.chain.max_retained_wal_bytes:
            problems.append(f"the way back's slot {slot!r} keeps {st['retained_bytes']} bytes of WAL on C (limit "
                            f"{self.chain.max_retained_wal_bytes}): A is far behind, and C's storage fills")
        return healthy

    def _reverse_subscription(self, problems: list[str], notes: list[str], figures: dict[str, Any]) -> bool:
        reading = ReverseSubscriptionCheck(conn_a=self.chain.conn_a,
                                           subscription=self.chain.fallback_subscription_name).read()
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

    def _reverse_parity(self, problems: list[str], notes: list[str], healthy: bool) -> list[dict[str, Any]]:
        if self.chain.parity == "off":
            return []
        if not healthy:
            notes.append("parity not checked: the way back (C -> A) is not healthy, so A is expected to differ")
            return []
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.hooks.target import TargetHook
        from pgshift.migration.scope import Scope
        from pgshift.migration.validation.sampling import WAY_BACK, sample_between

        if self.chain.parity == "full":
            notes.append("parity=full compares B and C at a frozen point of the chain; after the cutover the way "
                         "back is sampled instead (C vs A)")
        scope = Scope.from_params(self.chain.schemas, self.chain.tables)
        started = time.monotonic()
        with TargetHook(self.chain.conn_c) as c, PrimaryHook(self.chain.conn_a) as a:
            tables = [(t.schema, t.table) for t in c.scope_tables(scope, "public")]

            def position() -> str:  # C's current WAL position, read with the slot
                state = c.reverse_slot(self.chain.fallback_subscription_name)
                if state is None:
                    raise ReverseConfirmTimeout(f"slot {self.chain.fallback_subscription_name!r} is not on C")
                return state.current_lsn

            def confirmed(lsn: str) -> None:
                wait_reverse_confirmed(c, self.chain.fallback_subscription_name, lsn, self.chain.drain_timeout_seconds)

            results = sample_between(c, a, tables, self.chain.parity_sample_rows, position, confirmed, WAY_BACK)
        for r in results:
            if r["status"] in ("differs", "error"):
                problems.append(f"parity (sample, C vs A): {r['table']}: {r.get('note') or r['status']}")
            elif r["status"] in ("moving", "skipped"):
                notes.append(f"parity (sample, C vs A): {r['table']}: {r['status']}: {r.get('note', '')}")
        notes.append(f"parity (sample, C vs A) over {len(tables)} tables in {time.monotonic() - started:.2f} s")
        return results
