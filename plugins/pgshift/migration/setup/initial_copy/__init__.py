"""``initial_copy=parallel``: C's first copy from a frozen B, in parallel, verified at the point it was taken.

The runbook (:func:`pgshift.migration.setup.initial_copy.run.copy_from_frozen_b`), for every database of the chain
at once (B's replay is the server's):

1. Nothing to do for a database whose subscription exists (a setup re-run). Refused before anything changes: B's
   replay paused by someone else, a chain slot missing or consumed.
2. B's replay paused at L (:func:`pgshift.migration.verify.frozen.replay_paused`); A keeps taking writes, B keeps
   receiving them. Each chain slot's confirmed position must be at or before L (it was made before, from what B had
   replayed).
3. C's tables in scope emptied if an earlier attempt left rows (nothing streams into them yet: B is the truth).
4. Every table (each leaf partition of a partitioned one) copied in block ranges by ``copy_workers`` sessions
   (:mod:`.plan`, :mod:`.relay`), the figures said as it goes (:mod:`.progress`). C's tables have no index, no
   constraint but NOT NULL and CHECK, no trigger yet: ``copy_schema_to_c`` restored only pg_dump's pre-data.
5. Every table compared, B against C, at L: count and content hash (:func:`pgshift.migration.verify.parity.
   compare_still`, what the cutover's ``verify=full`` does). A difference fails the setup here: no slot moved, no
   subscription, B resumed.
6. C's WAL flushed (the copy's sessions commit with ``synchronous_commit=off``), then each chain slot moved forward
   to L (``pg_replication_slot_advance``).
7. B resumed (on every way out: the pause is held in a ``with``; a killed task resumes it in ``on_kill``), bounded by
   ``max_copy_pause_seconds``.
8. The indexes, constraints and triggers (pg_dump's post-data) built on C with ``copy_workers`` jobs
   (:mod:`.post_data`); then A's and C's schemas must agree (the schema-drift comparison).

Why no change is lost or applied twice: B frozen at L holds exactly the transactions whose commit record ends at or
before L, and those are what the copy read, from every session alike (no snapshot to export: B does not move).
Logical decoding sends a transaction only if its commit record starts at or after the slot's confirmed position
(PostgreSQL's ``SnapBuildXactNeedsSkip``); with the slot at L, C's subscription (``copy_data = false``) receives
exactly the transactions B had not replayed at L, each once. ``tests/test_initial_copy.py`` checks this under writes
on A: C equals A, table by table, once C has caught up.
"""
