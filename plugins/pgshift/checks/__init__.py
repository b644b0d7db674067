"""Read-only checks, as :class:`~pgshift.checks.base.Check` objects, shared by sensors (poke mode), the gate,
and the deferrable trigger (in a thread)."""
