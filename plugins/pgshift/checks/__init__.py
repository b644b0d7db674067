"""Read-only checks, as :class:`~pgshift.common.checks.base.Check` objects, shared by sensors (poke mode), the gate,
and the deferrable trigger (in a thread)."""
