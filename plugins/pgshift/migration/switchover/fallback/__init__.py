"""The way back after a cutover: reverse replication C -> A, armed inside the cutover
(:mod:`pgshift.migration.switchover.cutover.fallback_phases`), taken by action ``fallback``
(:mod:`pgshift.migration.switchover.fallback.run`) or torn down by action ``finish``
(:mod:`pgshift.migration.switchover.fallback.finish`).

The fallback is the switchover runbook (:mod:`pgshift.migration.switchover`) from C to A. One side is always
writable, never both: the fallback fences C before it unfences A, any failure in between lifts C's fence and leaves
A fenced, and its fence watchdog lifts C's fence if the task dies before its point of no return.
"""
