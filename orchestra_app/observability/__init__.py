"""Observability: structured logs (JSON lines with the seed's tenant/run fields), error ids for
unexpected failures, and Prometheus metrics with the seed's names (11.1)."""
