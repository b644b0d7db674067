"""pgshift.migration.verify: see the package layout in :mod:`pgshift`."""
