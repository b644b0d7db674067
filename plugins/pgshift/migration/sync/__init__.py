"""B a synchronous standby of A while the chain runs (param ``synchronous_standby``): set at setup
(:mod:`pgshift.migration.sync.standby`), watched by the guard (:mod:`pgshift.migration.sync.guard`), which falls back
to asynchronous rather than stopping A's writes when B is gone, undone by ``finish``."""
