"""pgshift.migration.preflight: see the package layout in :mod:`pgshift`."""
