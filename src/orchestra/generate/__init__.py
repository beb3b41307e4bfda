"""The generate use case: one request routed down a ranked chain (see :mod:`.service`)."""
