"""citus_scale_out: add nodes (or clones of workers) to a Citus cluster and rebalance. It imports :mod:`pgshift.common`,
never :mod:`pgshift.migration`."""
