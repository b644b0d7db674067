"""pgshift.migration.operators: see the package layout in :mod:`pgshift`."""
