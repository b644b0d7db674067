"""pgshift.citus.operators: see the package layout in :mod:`pgshift`."""
