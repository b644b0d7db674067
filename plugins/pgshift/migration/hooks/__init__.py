"""pgshift.migration.hooks: see the package layout in :mod:`pgshift`."""
