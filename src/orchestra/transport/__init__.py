"""The ground floor: the shared HTTP client, SSRF rules at connect time, SSE parsing.

Imports nothing above :mod:`orchestra.schemas` and :mod:`orchestra.errors`; providers and
``sync/`` both build on it.
"""
