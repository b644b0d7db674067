"""Citus SQL files, loaded by name through :mod:`pgshift.common.sql`."""
