"""pgshift.migration.switchover: one switchover runbook with a direction, the cutover (A -> C) and the fallback
(C -> A); see the package layout in :mod:`pgshift`.

:class:`~pgshift.migration.switchover.runbook.Switchover` holds what both directions share (the lease, the fence,
the drain, the judge, the point of no return, the rollback, the report's end) and
:func:`~pgshift.migration.switchover.recovery.recover_interrupted_attempt` what a retry finds. The direction's own
steps stay in :mod:`.cutover` (verify delta/full, access sync, login proof, arming the way back) and :mod:`.fallback`
(privilege parity, dropping the reverse subscription, unfencing A). The fence, its lease and marker, and the fence
watchdog are :mod:`.fence`, :mod:`.lease`, :mod:`.watchdog`.
"""
