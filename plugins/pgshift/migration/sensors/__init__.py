"""pgshift.migration.sensors: see the package layout in :mod:`pgshift`."""
