-- The objects are ALL TABLES, or TABLES IN SCHEMA / TABLE items with quoted identifiers.
CREATE PUBLICATION {publication} FOR {objects}
