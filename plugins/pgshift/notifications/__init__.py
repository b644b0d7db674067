"""Airflow notifiers (``BaseNotifier`` subclasses) pgshift ships; they run in the triggerer."""
