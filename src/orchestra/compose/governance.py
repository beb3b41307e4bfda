"""The governance stores and guards a function's core runs with, chosen from the settings.

Policies, the budget/rate ledger, spend rows and key issuing (:func:`governed`): what the
caller handed in ``Stores`` (tests); else DynamoDB and API Gateway in AWS mode (when the
stack gave the function its governance table: without one nothing is governed); else
memory. Each is kept on the ``Stores`` it was chosen for, so the request path and the admin
API of one process share them: a policy written through ``/v1/admin`` applies at once.
The guardrails (:func:`guards`) are the library's checks and redactors, configured per key
at admission; the Bedrock guardrail only when its id is set.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from orchestra.config import Settings
from orchestra.errors import StorageError
from orchestra.governance.issuer import KeyIssuer, LocalKeyIssuer
from orchestra.governance.protocols import PolicyStore, SpendBackend

if TYPE_CHECKING:
    from orchestra.compose.core import Stores
    from orchestra.governance.admission import GuardrailModes
    from orchestra.governance.policies import Guards, InputChecker, StreamRedactorLike
    from orchestra.schemas.chat import ChatRequest


def governed(settings: Settings, stores: Stores) -> bool:
    """Fill ``stores``' governance stores from the settings; False when nothing governs
    (AWS mode without a governance table: a stack from before issue 18)."""
    if settings.mode == "aws" and not settings.governance_table and stores.policies is None:
        return False
    policy_store(settings, stores)
    if stores.ledger is None:
        from orchestra.governance.ledger import Ledger, Scope

        stores.ledger = Ledger(_ledger_backend(settings), hold_ttl_s=settings.hold_ttl_s)
        stores.ledger_scope = Scope
    spend_backend(settings, stores)
    if settings.mode == "local":  # AWS: made when the admin API first issues a key
        key_issuer(settings, stores)
    return True


def _ledger_backend(settings: Settings) -> Any:
    if settings.mode == "aws" and settings.governance_table:
        from orchestra.storage.governance import DynamoDBLedgerBackend

        return DynamoDBLedgerBackend(settings.governance_table)
    from orchestra.governance.memory import MemoryLedgerBackend

    return MemoryLedgerBackend()


def guards(settings: Settings) -> Guards:
    """The guardrails library behind the request policies (modes resolved per key). Its
    patterns are compiled when a key first needs them, not at start-up: a gateway whose
    keys check nothing never pays for them (about 12 ms of a cold start)."""
    from orchestra.governance.policies import Guards

    bedrock = None
    if settings.bedrock_guardrail_id and settings.bedrock_guardrail_version:
        from orchestra.guardrails.bedrock import BedrockGuardrail

        bedrock = BedrockGuardrail(
            None, settings.bedrock_guardrail_id, settings.bedrock_guardrail_version
        )
    return Guards(
        input_checks=_input_checks,
        texts_of=_texts_of,
        redactor=_LazyRedactor(),
        bedrock=bedrock,
        audit=partial(_audit, logging.getLogger("orchestra.security")),
    )


def _input_checks(modes: GuardrailModes) -> InputChecker:
    from orchestra.guardrails.input import InputChecks

    return InputChecks(modes.injection, modes.secrets, modes.size, modes.max_message_chars)


def _texts_of(request: ChatRequest) -> list[tuple[str, str]]:
    from orchestra.guardrails.input import texts_of

    return texts_of(request)


def _audit(log: logging.Logger, key_id: str, check: str, rule: str, action: str) -> None:
    from orchestra.guardrails.audit import audit

    audit(log, key_id, check, rule, action)


class _LazyRedactor:
    """``guardrails.output.OutputRedactor``, made on first use."""

    def __init__(self) -> None:
        self._made: Any = None

    def _redactor(self) -> Any:
        if self._made is None:
            from orchestra.guardrails.output import OutputRedactor

            self._made = OutputRedactor()
        return self._made

    def redact(self, text: str) -> tuple[str, list[str]]:
        found: tuple[str, list[str]] = self._redactor().redact(text)
        return found

    def stream(self, lookbehind: int) -> StreamRedactorLike:
        found: StreamRedactorLike = self._redactor().stream(lookbehind)
        return found


def policy_store(settings: Settings, stores: Stores) -> PolicyStore:
    if stores.policies is None:
        if settings.mode == "aws" and settings.governance_table:
            found = dynamodb_policy_store(settings.governance_table)
        elif settings.mode == "aws":
            raise StorageError("AWS mode needs ORCHESTRA_GOVERNANCE_TABLE for key policies")
        else:
            from orchestra.governance.memory import MemoryPolicyStore

            found = MemoryPolicyStore()
        stores.policies = found
    return stores.policies


def dynamodb_policy_store(table: str, client: Any = None) -> PolicyStore:
    """The governance table's policies (``orchestra keys --governance-table``, deployed)."""
    from orchestra.storage.governance import DynamoDBPolicyStore

    found: PolicyStore = DynamoDBPolicyStore(table, client)
    return found


def spend_backend(settings: Settings, stores: Stores) -> SpendBackend:
    if stores.spend is None:
        from orchestra.storage.spend import DynamoDBSpendBackend, MemorySpendBackend

        if settings.mode == "aws" and settings.metrics_table:
            stores.spend = DynamoDBSpendBackend(settings.metrics_table)
        else:
            stores.spend = MemorySpendBackend()
    return stores.spend


def key_issuer(settings: Settings, stores: Stores) -> KeyIssuer:
    """API Gateway + the client-keys secret in AWS (both configured, or a clear error when
    a key is first issued); in-memory keys locally."""
    if stores.issuer is None:
        if settings.mode == "aws":
            stores.issuer = _aws_issuer(settings)
        else:
            stores.issuer = LocalKeyIssuer()
    return stores.issuer


def _aws_issuer(settings: Settings) -> KeyIssuer:
    if not (settings.api_keys_secret and settings.key_usage_plan):
        raise StorageError(
            "issuing keys needs ORCHESTRA_API_KEYS_SECRET and ORCHESTRA_KEY_USAGE_PLAN"
        )
    import boto3

    from orchestra.governance.issuer import AwsKeyIssuer
    from orchestra.storage.client_keys import ClientKeys

    keys = ClientKeys(
        boto3.client("apigateway"), boto3.client("secretsmanager"), settings.api_keys_secret
    )
    return AwsKeyIssuer(keys, settings.key_usage_plan)
