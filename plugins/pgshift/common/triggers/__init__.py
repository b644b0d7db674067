"""pgshift.common.triggers: see the package layout in :mod:`pgshift`."""
