"""pgshift.common.hooks: see the package layout in :mod:`pgshift`."""
