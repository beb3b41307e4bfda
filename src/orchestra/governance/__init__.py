"""Governance (issue 18): who may call, how much they may spend and how fast, what their
prompts and answers may carry. Records and protocols here; the ledger, the guardrails and
the request policies in their own modules. See docs/governance.md."""
