"""Observability: Prometheus metrics (seed 11.1)."""
