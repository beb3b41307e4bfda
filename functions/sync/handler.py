"""catalog sync: invoked by EventBridge Scheduler with ``{"source": "openrouter" | ...}``.

The sources land with the catalog-sync issue; until then an invocation logs that the
bundled catalog snapshot stays in use and reports ``not_available`` (it does not fail, so
the schedule's retries, dead-letter queue and sync-failure alarm stay quiet).
"""

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="orchestra-sync")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    source = str(event.get("source")) if isinstance(event, dict) else "?"
    logger.warning("catalog sync not available in this build", extra={"source": source})
    return {"source": source, "status": "not_available"}
