"""Everything Lambda-specific, at the edge: the functions' Powertools wiring
(:mod:`.functions`), the app on Lambda (:mod:`.app`, buffered and streamed), the streaming
Runtime API client (:mod:`.runtime_api`), SnapStart hooks (:mod:`.snapstart`) and the
Bearer-key authorizer (:mod:`.authorizer`). The core package never imports this."""
