-- Fill a materialized view that the schema copy created empty (WITH NO DATA), from the data now on C.
REFRESH MATERIALIZED VIEW {matview}
