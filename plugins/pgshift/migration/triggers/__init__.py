"""pgshift.migration.triggers: see the package layout in :mod:`pgshift`."""
