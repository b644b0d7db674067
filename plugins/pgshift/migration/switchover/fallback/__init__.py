"""The way back after a cutover: reverse replication C -> A, armed inside the cutover
(:mod:`pgshift.migration.switchover.cutover.fallback_phases`), taken by action ``fallback``
(:mod:`pgshift.migration.switchover.fallback.run`) or torn
down by action ``finish`` (:mod:`pgshift.migration.switchover.fallback.finish`).

One side is always writable, never both: the fallback fences C before it unfences A, and any failure in between
lifts C's fence and leaves A fenced.
"""
