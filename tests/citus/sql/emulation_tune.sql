UPDATE citus_emulation.settings SET value = %(value)s WHERE name = %(name)s
