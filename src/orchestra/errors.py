"""The one error hierarchy of Orchestra.

Adapters map vendor failures into these types at the edge; resilience decides on the
typed fields (``retryable``, ``retry_after``, ``fallback``) alone, never on message text;
the API turns any of them into OpenAI's error shape in one place (``api/errors.py``).

::

    OrchestraError(message, code, status, retryable=False)
    ├── InvalidRequest (400)
    │   ├── PayloadTooLarge (413)
    │   ├── UnprocessableRequest (422)
    │   ├── UnsafeBaseURL(rule) (a configured base URL or its address breaks the SSRF rules)
    │   ├── DebateConflict (409: an Idempotency-Key reused for a different debate)
    │   └── WorkflowConflict (409: the same for a chain run; or a finished batch changed)
    ├── Unauthorized (401)
    ├── UnknownModel (404)
    │   ├── DebateNotFound (404)
    │   ├── WorkflowNotFound (404: no such chain, run, file or batch)
    │   └── ResponseNotFound (404: no stored Responses answer by that id)
    ├── NoCandidates (400/503: nothing can serve the request)
    ├── ProviderError(provider, model)
    │   ├── RateLimited (429, retryable, retry_after)
    │   ├── Overloaded (503/529, retryable)
    │   ├── ServerError (5xx, retryable)
    │   ├── ProviderTimeout (504, retryable)
    │   ├── ConnectionFailed (502, retryable)
    │   ├── MalformedResponse (502, retryable)
    │   ├── ModelUnavailable (502: the vendor does not serve the model; falls back)
    │   ├── ContextLengthExceeded (400, falls back to a larger window)
    │   ├── ProviderAuthError (502: our key for that vendor is wrong; falls back)
    │   ├── ProviderBadRequest (400: the client's request is wrong; no fallback)
    │   ├── UpstreamAddressRefused(rule) (502: the upstream resolved to a forbidden address)
    │   └── StreamInterrupted (502: failed after the first byte reached the client)
    ├── AllCandidatesFailed(attempts) (502/503/504)
    ├── AllModelsFailed(attempts) (502: every model of a fan-out failed)
    ├── StorageError (503)
    ├── SyncFailed(source) (502: a catalog sync fetched nothing usable; nothing written)
    ├── DebateFailed (502: a debate cannot go on; its state machine records why)
    ├── DebateUnavailable (503, retryable: the debate's run could not be started)
    ├── WorkflowFailed (502: a chain step or batch cannot go on); WorkflowUnavailable (503)
    ├── GuardrailUnavailable (503, retryable: a remote guardrail failed; fails closed)
    ├── GatewayCallFailed (a gateway ``orchestra eval`` called answered an error)
    └── PolicyRefusal (a policy refused the request: never a provider's fault, never retried)
        ├── BudgetExceeded (429 budget_exceeded: names the budget and when it resets)
        ├── RequestRateLimited (429 rate_limit_exceeded: requests or tokens per minute)
        ├── GuardrailBlocked (400 guardrail_blocked: names the rule, never the text)
        └── Forbidden (403: an admin route asked with a client key)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a record resilience makes; only named here
    from orchestra.resilience.fallback import Attempt


class OrchestraError(Exception):
    """Base of every error Orchestra raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    type: str = "server_error"
    retryable: bool = False
    #: whether the next candidate in a fallback chain may serve this request instead
    fallback: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.param = param

    def to_body(self) -> dict[str, Any]:
        """OpenAI's error shape."""
        return error_envelope(self.message, self.type, self.code, self.param)


def error_envelope(message: str, type: str, code: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error body ``{"error": {"message", "type", "param", "code"}}``: the one place
    it is built, for errors (:meth:`OrchestraError.to_body`) and for the edges that answer
    without one (the catch-all 500, Lambda start-up failures, API Gateway's responses)."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class InvalidRequest(OrchestraError):
    status = 400
    code = "invalid_request"
    type = "invalid_request_error"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class UnprocessableRequest(InvalidRequest):
    status = 422
    code = "invalid_value"


class UnsafeBaseURL(InvalidRequest):
    """A configured base URL, or an address its host resolves to, breaks an SSRF rule.

    ``rule`` names the rule (``scheme``, ``credentials``, ``malformed_host``, ``metadata``,
    ``link_local``, ``unusable``, ``private``, ``plain_http``); ``provider`` is set when the
    URL came from a provider's configuration.
    """

    code = "unsafe_base_url"

    def __init__(
        self, message: str, *, rule: str, url: str | None = None, provider: str | None = None
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.url = url
        self.provider = provider


class Unauthorized(OrchestraError):
    status = 401
    code = "invalid_api_key"
    type = "authentication_error"


class UnknownModel(OrchestraError):
    status = 404
    code = "model_not_found"
    type = "invalid_request_error"


class ResponseNotFound(UnknownModel):
    """No stored OpenAI Responses answer has that id (never stored, or expired)."""

    code = "not_found"


class NoCandidates(OrchestraError):
    """No configured model can serve this request (window, capabilities, providers)."""

    status = 400
    code = "no_candidates"
    type = "invalid_request_error"


class ProviderError(OrchestraError):
    """A failure while talking to one upstream model."""

    status = 502
    code = "provider_error"
    type = "api_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str,
        upstream_status: int | None = None,
        code: str | None = None,
        status: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status, param=param)
        self.provider = provider
        self.model = model
        self.upstream_status = upstream_status

    def summary(self) -> str:
        """A short, key-free description for headers and logs."""
        status = f" {self.upstream_status}" if self.upstream_status else ""
        return f"{type(self).__name__}{status}"


class RateLimited(ProviderError):
    status = 429
    code = "rate_limit_exceeded"
    type = "rate_limit_error"
    retryable = True
    fallback = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Overloaded(ProviderError):
    status = 503
    code = "overloaded"
    retryable = True
    fallback = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(ProviderError):
    status = 502
    code = "upstream_server_error"
    retryable = True
    fallback = True


class ProviderTimeout(ProviderError):
    status = 504
    code = "upstream_timeout"
    type = "timeout_error"
    retryable = True
    fallback = True


class ConnectionFailed(ProviderError):
    status = 502
    code = "upstream_connection_failed"
    retryable = True
    fallback = True


class MalformedResponse(ProviderError):
    status = 502
    code = "upstream_malformed_response"
    retryable = True
    fallback = True


class ModelUnavailable(ProviderError):
    """The vendor does not know or no longer serves this model: try the next one."""

    status = 502
    code = "upstream_model_unavailable"
    fallback = True


class ContextLengthExceeded(ProviderError):
    status = 400
    code = "context_length_exceeded"
    type = "invalid_request_error"
    fallback = True


class ProviderAuthError(ProviderError):
    """Our credentials for this vendor were refused: another vendor may still answer."""

    status = 502
    code = "upstream_auth_failed"
    fallback = True


class ProviderBadRequest(ProviderError):
    """The vendor says the client's request is wrong: no other model would do better."""

    status = 400
    code = "invalid_request"
    type = "invalid_request_error"


class UpstreamAddressRefused(ProviderError):
    """The upstream's host resolved, at connect time, to an address the SSRF rules forbid.

    No socket was opened. A configuration problem, not the client's: another provider may
    still answer, the same one will not until its DNS or configuration changes.
    """

    status = 502
    code = "upstream_address_refused"
    fallback = True

    def __init__(self, message: str, *, rule: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.rule = rule


class StreamInterrupted(ProviderError):
    """The upstream failed after part of the answer had reached the client."""

    status = 502
    code = "stream_interrupted"


def retry_after_of(error: BaseException) -> float | None:
    """The server-suggested wait carried by an error, if any."""
    value = getattr(error, "retry_after", None)
    return float(value) if value is not None else None


class AllCandidatesFailed(OrchestraError):
    """Every model in the chain failed; status follows the most telling failure."""

    code = "all_candidates_failed"
    type = "api_error"

    def __init__(self, message: str, *, attempts: list[Attempt], last: OrchestraError | None):
        status = 502
        if last is not None:
            if isinstance(last, ProviderTimeout):
                status = 504
            elif isinstance(last, RateLimited | Overloaded):
                status = 503
        super().__init__(message, status=status)
        self.attempts = attempts
        self.last = last
        self.retry_after = retry_after_of(last) if last is not None else None


class AllModelsFailed(OrchestraError):
    """Multi-generate: no model of the fan-out answered; each one's failure is listed."""

    status = 502
    code = "all_models_failed"
    type = "api_error"

    def __init__(self, message: str, *, attempts: list[Attempt]) -> None:
        super().__init__(message)
        self.attempts = attempts


class StorageError(OrchestraError):
    status = 503
    code = "storage_unavailable"
    type = "api_error"
    retryable = True


class SyncFailed(OrchestraError):
    """A catalog sync that changed nothing: the source failed or sent nothing usable.

    ``retryable`` says whether trying again later may help (a 503 or a timeout may; a
    payload in an unknown shape will not)."""

    status = 502
    code = "sync_failed"
    type = "api_error"

    def __init__(self, message: str, *, source: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.source = source
        self.retryable = retryable


class DebateConflict(InvalidRequest):
    status = 409
    code = "idempotency_key_reused"


class DebateNotFound(UnknownModel):
    code = "debate_not_found"


class DebateFailed(OrchestraError):
    """The debate cannot go on (fewer than two participants left, a missing record)."""

    status = 502
    code = "debate_failed"
    type = "api_error"


class DebateUnavailable(OrchestraError):
    status = 503
    code = "debate_unavailable"
    type = "api_error"
    retryable = True


class WorkflowConflict(InvalidRequest):
    """409: an Idempotency-Key reused for a different chain run, or a state that forbids the
    change (a finished batch cancelled)."""

    status = 409
    code = "conflict"


class WorkflowNotFound(UnknownModel):
    """404: no chain, chain run, file or batch by that name or id (``code`` says which)."""

    code = "not_found"


class WorkflowFailed(OrchestraError):
    """A chain step or a batch cannot go on; its state machine records why."""

    status = 502
    code = "workflow_failed"
    type = "api_error"


class WorkflowUnavailable(OrchestraError):
    """503: a chain run or batch could not be started (Step Functions refused)."""

    status = 503
    code = "workflow_unavailable"
    type = "api_error"
    retryable = True


class PolicyRefusal(OrchestraError):
    """A request policy (budget, rate limit, guardrail, role) refused the request.

    Never a provider's fault: the fallback runner and the fan-out re-raise it as it is
    (no other model is tried, no breaker counts it). ``headers`` are sent with the error
    (``x-ratelimit-*``); ``retry_after`` becomes ``retry-after`` on a 429."""

    status = 429
    type = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status, param=param)
        self.retry_after = retry_after
        self.headers = dict(headers or {})


class BudgetExceeded(PolicyRefusal):
    """A USD budget (a key's or team's day or month, or the per-request cap) would be
    exceeded by this call's worst-case cost. ``budget`` names it (``key:ci-bot:day``),
    ``resets_at`` is an ISO-8601 UTC time (None for the per-request cap)."""

    status = 429
    code = "budget_exceeded"
    type = "insufficient_quota"

    def __init__(
        self,
        message: str,
        *,
        budget: str,
        resets_at: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after, headers=headers)
        self.budget = budget
        self.resets_at = resets_at


class RequestRateLimited(PolicyRefusal):
    """A key's or team's requests or tokens per minute are used up (``limit``: which)."""

    status = 429
    code = "rate_limit_exceeded"
    type = "requests"

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        retry_after: float,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after, headers=headers)
        self.limit = limit
        self.type = "tokens" if limit.endswith("tpm") else "requests"


class GuardrailBlocked(PolicyRefusal):
    """An input guardrail in ``block`` mode matched (``rule``: which; never the text).
    ``check`` names the guardrail (``injection``, ``secrets``, ``size``, ``bedrock``)
    when the raiser knows it, for the audit line."""

    status = 400
    code = "guardrail_blocked"
    type = "invalid_request_error"

    def __init__(self, message: str, *, rule: str, check: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.check = check


class GuardrailUnavailable(OrchestraError):
    """A remote guardrail (Amazon Bedrock Guardrails) could not be asked, and it fails
    closed: the request is refused rather than let through unchecked."""

    status = 503
    code = "guardrail_unavailable"
    type = "api_error"
    retryable = True


class Forbidden(PolicyRefusal):
    """The key is valid but may not do this (an admin route asked with a client key)."""

    status = 403
    code = "admin_required"
    type = "permission_error"


class GatewayCallFailed(OrchestraError):
    """``orchestra eval``'s call to a gateway (in-process or ``--base-url``) answered an
    error: ``status`` and ``code`` are the gateway's, ``retryable`` whether a rerun may pass
    (429, 5xx, a timeout or a refused connection: status 0)."""

    type = "api_error"

    def __init__(self, message: str, *, status: int, code: str | None = None) -> None:
        super().__init__(message, code=code or "gateway_error", status=status)
        self.retryable = status in (0, 408, 409, 425, 429) or status >= 500
        #: upstream calls the gateway made before it failed (its ``x-orchestra-attempts``)
        self.attempts = 0
