"""pgshift.migration.access: see the package layout in :mod:`pgshift`."""
