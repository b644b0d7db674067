"""One switchover runbook with a direction: the cutover (A -> C) and the fallback (C -> A).

:class:`~pgshift.switchover.runbook.Switchover` holds what both directions share (the lease, the fence, the drain,
the judge, the point of no return, the rollback, the report's end) and
:func:`~pgshift.switchover.recovery.recover_interrupted_attempt` what a retry finds. The direction's own steps stay
in :mod:`pgshift.cutover` (verify delta/full, access sync, login proof, arming the way back) and
:mod:`pgshift.fallback` (privilege parity, dropping the reverse subscription, unfencing A).
"""
