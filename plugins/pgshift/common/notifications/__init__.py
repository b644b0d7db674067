"""pgshift.common.notifications: see the package layout in :mod:`pgshift`."""
