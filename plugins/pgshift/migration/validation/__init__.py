"""pgshift.migration.validation: see the package layout in :mod:`pgshift`."""
