"""The cutover (A -> C): the switchover runbook (:mod:`pgshift.migration.switchover`) in that direction, which
:class:`pgshift.migration.operators.cutover.CutoverOperator` follows.

:mod:`.phases`: the cutover's own phases (gate, plan, finalize, ready, the dry run's) on top of the shared fence,
drain, judge, commit and rollback; :mod:`.verify_phases`, :mod:`.access_phases`, :mod:`.fallback_phases`: verify
delta/full, C's roles and privileges, arming the way back. What a retry does about an attempt of the same run that
died: :mod:`pgshift.migration.switchover.recovery`.
"""
