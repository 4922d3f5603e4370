"""Prefect flows of the platform: daily_refresh and realtime_orders (see prefect.yaml)."""
