"""Structured logs (JSON lines with the seed's tenant/run fields) and error ids for unexpected failures."""
