"""Batches: the OpenAI Files and Batch APIs, run on Step Functions (docs/workflows.md)."""
