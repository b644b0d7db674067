-- A role setting's value made this transaction's own (set_config parses it as postgresql.conf would, lists
-- included), to be stored with ALTER ROLE … SET … FROM CURRENT; returns the value to put back afterwards.
SELECT current_setting(%(name)s, true) AS saved, set_config(%(name)s, %(value)s, true) AS staged
