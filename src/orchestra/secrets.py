"""JSON secrets from Secrets Manager, through Powertools Parameters (cached, lazily imported)."""

from __future__ import annotations

from orchestra.errors import StorageError


def read_secret_json(secret_id: str, max_age: int) -> dict[str, str]:
    """A JSON object secret as ``{str: str}`` (empty values dropped), cached ``max_age`` s."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(secret_id, transform="json", max_age=max_age)
    if not isinstance(value, dict):
        raise StorageError(f"secret {secret_id} is not a JSON object")
    return {str(k): str(v) for k, v in value.items() if v}
