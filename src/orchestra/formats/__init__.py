"""Inbound wire formats: what clients send besides OpenAI chat completions, parsed into the
internal :class:`~orchestra.schemas.chat.ChatRequest` and rendered back from its answers
and streams, each in the client's own shape (errors included). The mirror of ``providers``:
an adapter there speaks a vendor's format to the vendor, a module here speaks it to a client.
"""
