"""pgshift.common.operators: see the package layout in :mod:`pgshift`."""
