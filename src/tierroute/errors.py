"""Every error tierroute raises, as one tree.

    TierrouteError                      has .status, .type, .param, .code -> OpenAI error JSON
    ├── RequestError                    the caller's fault; never retried
    │   ├── InvalidRequest  400         a field is missing, of the wrong type or out of range
    │   ├── PayloadTooLarge 413         the body is over server.max_body_mb
    │   ├── UnsupportedMediaType 415    a body that is not declared application/json
    │   ├── CrossOriginRefused 403      a browser request from an origin not in server.cors_origins
    │   ├── AuthRequired    401         no key, or a key we do not know
    │   ├── PermissionDenied 403        a virtual key asked for a model it may not use
    │   ├── BudgetExceeded  429         a virtual key's budget for the period is spent
    │   ├── ModelNotFound   404         `model` names nothing in the catalog, aliases or tiers
    │   ├── RouteNotFound   404/405     no such path, or not with this method (aiohttp's own errors)
    │   ├── RequestNotFound 404         feedback on a request this caller never made
    │   ├── ResponseNotFound 404        a stored Responses answer this caller never made, or expired
    │   ├── NoCandidate     400         no model can take this request (context, vision, tools)
    │   ├── ClientClosed    499         the client left before its answer was complete (usage record only)
    │   └── QuotaExhausted  429         every candidate's quota (or the key's budget) is spent
    ├── ProviderError                   raised by providers/ adapters; .deployment names where
    │   ├── RateLimited     429         vendor said 429; .retry_after in seconds when it said so
    │   ├── Overloaded      503/529     vendor is overloaded (Anthropic 529, 503)
    │   ├── ContextTooLong  400         prompt + output do not fit the model's window
    │   ├── ContentFiltered 400         vendor refused on content policy
    │   ├── BadRequest      400         vendor rejected the request as malformed
    │   ├── AuthFailed      401/403     vendor rejected our key
    │   ├── Timeout         504         no answer (or no next byte) within the deadline
    │   └── UpstreamError   502         5xx, malformed body, stream cut mid-way
    └── AllAttemptsFailed   (varies)    execution ran out of attempts; .attempts lists them

``ProviderError.retryable`` says whether execution may try the same deployment again;
``ProviderError.fallback`` whether another deployment may help (a malformed request will not).
"""

from __future__ import annotations

from typing import Any


class TierrouteError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None
    retry_after: float | None = None  # seconds; set by the errors that know (429s, all attempts spent)

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def headers(self) -> dict[str, str]:
        """Retry-After (whole seconds, at least 1) for any error that knows when to try again."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, int(self.retry_after + 0.999)))}


# ---------------------------------------------------------------------------- the caller's fault


class RequestError(TierrouteError):
    status = 400
    type = "invalid_request_error"


class InvalidRequest(RequestError):
    code = "invalid_request"


class PayloadTooLarge(RequestError):
    status = 413
    code = "request_too_large"


class UnsupportedMediaType(RequestError):
    """A body not sent as application/json: the shape of a browser's cross-site "simple" POST."""

    status = 415
    code = "unsupported_media_type"


class CrossOriginRefused(RequestError):
    """A browser request another site's page made (Origin, Sec-Fetch-Site or a rebound Host)."""

    status = 403
    type = "permission_error"
    code = "cross_origin_refused"


class AuthRequired(RequestError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(RequestError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class BudgetExceeded(RequestError):
    status = 429
    type = "insufficient_quota"  # OpenAI's type for a spent billing limit
    code = "budget_exceeded"


class ModelNotFound(RequestError):
    status = 404
    code = "model_not_found"


class RouteNotFound(RequestError):
    """What the HTTP framework itself refuses (unknown path, wrong method), in our error shape."""

    status = 404
    code = "not_found"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
        self.code = "not_found" if status == 404 else "method_not_allowed" if status == 405 else "bad_request"


class RequestNotFound(RequestError):
    """Feedback for a request id this caller never made (or that does not exist: the same answer)."""

    status = 404
    code = "request_not_found"


class ResponseNotFound(RequestError):
    """A stored Responses answer this caller never made, or that expired (the same answer)."""

    status = 404
    code = "not_found"


class StoreUnavailable(TierrouteError):
    """The usage store (which also keeps feedback and stored responses) cannot be reached."""

    status = 503
    type = "server_error"
    code = "usage_store_unavailable"


class FeedbackUnavailable(StoreUnavailable):
    pass


class NoCandidate(RequestError):
    code = "no_candidate_model"


class ClientClosed(RequestError):
    """The client disconnected before its answer was complete (recorded, never sent: nobody listens)."""

    status = 499
    code = "client_closed_request"


class QuotaExhausted(RequestError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


# ---------------------------------------------------------------------------- the vendor's answer


class ProviderError(TierrouteError):
    status = 502
    type = "upstream_error"
    retryable = False  # may the same deployment be tried again?
    fallback = True  # may another deployment help?

    def __init__(self, message: str, *, deployment: str | None = None, upstream_status: int | None = None,
                 **kw: Any) -> None:
        super().__init__(message, **kw)
        self.deployment = deployment
        self.upstream_status = upstream_status


class RateLimited(ProviderError):
    status = 429
    type = "rate_limit_error"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Overloaded(ProviderError):
    status = 503
    type = "overloaded_error"
    retryable = True


class ContextTooLong(ProviderError):
    status = 400
    type = "invalid_request_error"
    code = "context_length_exceeded"


class ContentFiltered(ProviderError):
    status = 400
    type = "invalid_request_error"
    code = "content_filter"
    fallback = False


class BadRequest(ProviderError):
    status = 400
    type = "invalid_request_error"
    fallback = False


class AuthFailed(ProviderError):
    status = 401
    type = "authentication_error"


class Timeout(ProviderError):
    status = 504
    type = "timeout_error"
    retryable = True


class UpstreamError(ProviderError):
    status = 502
    type = "upstream_error"
    retryable = True


# ---------------------------------------------------------------------------- execution's verdict


class AllAttemptsFailed(TierrouteError):
    """Every attempt failed. The status is the most telling of the attempts' errors: a 429 when
    everything was rate limited (so the client backs off), else 502/503/504."""

    type = "upstream_error"
    code = "all_attempts_failed"

    def __init__(self, message: str, errors: list[ProviderError], retry_after: float | None = None) -> None:
        super().__init__(message)
        self.errors = errors
        self.retry_after = retry_after
        statuses = {e.status for e in errors}
        if not errors:  # nothing was even tried: every candidate cooled down
            self.status, self.type = 503, "overloaded_error"
        elif all(isinstance(e, RateLimited) for e in errors):
            self.status, self.type = 429, "rate_limit_error"
        elif errors and all(isinstance(e, Timeout) for e in errors):
            self.status = 504
        elif errors and all(isinstance(e, ContextTooLong) for e in errors):
            self.status, self.type, self.code = 400, "invalid_request_error", "context_length_exceeded"
        elif statuses == {503}:
            self.status = 503
        else:
            self.status = 502
