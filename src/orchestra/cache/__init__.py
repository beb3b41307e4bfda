"""Answers from cache (docs/cache.md): exact, semantic and offline.

A layer-1 package like ``governance``: it knows the unified request and response
(``schemas``) and nothing above them. The generate use case consults one
:class:`~orchestra.cache.policy.AnswerCache` before it plans a route and hands it the
answer after; storage backends (DynamoDB, S3 Vectors) live in ``storage/``.

- :mod:`~orchestra.cache.records`: settings per key, options per request, stored answers,
  the report behind ``x-orchestra-cache``;
- :mod:`~orchestra.cache.protocols`: the second level and the vector store, as protocols;
- :mod:`~orchestra.cache.keys`: the canonical hash of what determines an answer;
- :mod:`~orchestra.cache.lru` and :mod:`~orchestra.cache.tiers`: the in-process LRU (bounded
  in bytes) in front of the second level.
"""
