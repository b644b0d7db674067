"""pgshift.migration.switchover: see the package layout in :mod:`pgshift`."""
