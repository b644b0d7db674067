-- Mark a publication as pgshift's (the way back's: a later attempt knows an earlier one's leftover by it).
COMMENT ON PUBLICATION {publication} IS %(comment)s
