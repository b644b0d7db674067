"""pgshift.migration.checks: see the package layout in :mod:`pgshift`."""
