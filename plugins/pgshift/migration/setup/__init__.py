"""pgshift.migration.setup: see the package layout in :mod:`pgshift`."""
