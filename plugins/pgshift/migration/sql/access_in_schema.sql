IN SCHEMA {schema}
