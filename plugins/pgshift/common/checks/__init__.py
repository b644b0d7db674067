"""pgshift.common.checks: see the package layout in :mod:`pgshift`."""
