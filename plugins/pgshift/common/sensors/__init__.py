"""pgshift.common.sensors: see the package layout in :mod:`pgshift`."""
