"""The embeddings use case (``POST /v1/embeddings``): a peer of generate."""
