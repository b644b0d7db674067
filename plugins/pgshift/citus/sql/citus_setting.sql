-- NULL rather than an error for a setting the server does not know.
SELECT current_setting(%(name)s, true) AS value
