"""pgshift: Airflow 3 operators, sensors and triggers for PostgreSQL migrations and Citus scale-out."""

__version__ = "0.1.0"
