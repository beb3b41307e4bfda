"""Chains: declarative workflows of model calls (docs/workflows.md)."""
