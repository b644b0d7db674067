-- Put back this transaction's value of a setting once a role setting was stored from it.
SELECT set_config(%(name)s, %(value)s, true)
