SELECT current_setting(%s) AS value
