"""Vendor failures onto tierroute's closed error set, in one place for all three dialects.

Every vendor wraps errors in JSON of roughly the same shape (OpenAI ``{"error": {"message",
"type", "code"}}``, Anthropic ``{"type": "error", "error": {"type", "message"}}``, Gemini
``{"error": {"code", "message", "status", "details"}}``); we read whichever is there, classify by
HTTP status first and by the vendor's code/message second (a context overflow and a malformed
request are both a 400). Messages may quote the vendor but never the API key: anything that
looks like a key is masked before the error is built.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from tierroute.errors import (
    AuthFailed,
    BadRequest,
    ContentFiltered,
    ContextTooLong,
    Overloaded,
    ProviderError,
    RateLimited,
    Timeout,
    UpstreamError,
)
from tierroute.providers.ratelimit import parse_duration, parse_retry_after
from tierroute.types import Deployment

_KEYLIKE = re.compile(r"(sk-[A-Za-z0-9_\-*.]{4,}|AIza[0-9A-Za-z_\-]{10,}|gsk_[A-Za-z0-9]{8,}|Bearer\s+\S+)")

_CONTEXT_HINTS = (
    "context_length_exceeded",
    "prompt is too long",
    "maximum context length",
    "exceeds the maximum number of tokens",
    "context window",
    "too many tokens",
    "input is too long",
    "reduce the length",
)
_FILTER_HINTS = ("content_filter", "content_policy", "content management policy", "safety", "prohibited_content")

_json = msgspec.json.Decoder()


def scrub(text: str, dep: Deployment) -> str:
    """The text with the deployment's key, and anything shaped like a key, masked."""
    if dep.api_key and len(dep.api_key) >= 4:
        text = text.replace(dep.api_key, "***")
    return _KEYLIKE.sub("***", text)


def _fields(body: bytes) -> tuple[str, str, str, Any]:
    """(message, type, code, details) read from any vendor's error JSON; empty when absent."""
    try:
        doc = _json.decode(body) if body else None
    except msgspec.DecodeError:
        text = body[:300].decode("utf-8", "replace").strip()
        return text, "", "", None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):  # Gemini streams errors as a list
        err = doc[0].get("error")
    if isinstance(err, str):
        return err, "", "", None
    if not isinstance(err, dict):
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return doc["message"], str(doc.get("type") or ""), str(doc.get("code") or ""), None
        return "", "", "", None
    msg = err.get("message")
    etype = err.get("type") or err.get("status") or ""
    code = err.get("code") or ""
    return (str(msg) if msg is not None else "", str(etype), str(code), err.get("details"))


def _gemini_retry_delay(details: Any) -> float | None:
    if not isinstance(details, list):
        return None
    for d in details:
        if isinstance(d, dict) and isinstance(d.get("retryDelay"), str):
            return parse_duration(d["retryDelay"])
    return None


def from_response(status: int, body: bytes, headers: Mapping[str, str], dep: Deployment) -> ProviderError:
    """The error for a non-2xx answer (or a 2xx whose body carried an ``error`` object)."""
    msg, etype, code, details = _fields(body)
    lowered = f"{msg} {etype} {code}".lower()
    text = scrub(f"{dep.id}: upstream {status}: {msg or etype or 'no error message'}", dep)
    kw: dict[str, Any] = {"deployment": dep.id, "upstream_status": status}
    if status in (401, 403) or etype in ("authentication_error", "permission_error", "PERMISSION_DENIED",
                                         "UNAUTHENTICATED") or (
            # Gemini answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID
            status == 400 and ("api_key_invalid" in repr(details).lower() or "api key not valid" in lowered)):
        return AuthFailed(text, **kw)
    if status == 429 or etype in ("rate_limit_error", "RESOURCE_EXHAUSTED"):
        retry = parse_retry_after(headers)
        if retry is None:
            retry = _gemini_retry_delay(details)
        return RateLimited(text, retry_after=retry, **kw)
    if status in (529, 503) or etype == "overloaded_error" or etype == "UNAVAILABLE":
        return Overloaded(text, **kw)
    if status in (408, 504) or etype in ("timeout_error", "DEADLINE_EXCEEDED"):
        return Timeout(text, **kw)
    if 400 <= status < 500 or etype in ("invalid_request_error", "INVALID_ARGUMENT"):
        if any(h in lowered for h in _CONTEXT_HINTS):
            return ContextTooLong(text, **kw)
        if any(h in lowered for h in _FILTER_HINTS):
            return ContentFiltered(text, **kw)
        if status == 404:
            # the vendor does not know this upstream model: a different deployment may well
            err: ProviderError = BadRequest(text, **kw)
            err.fallback = True
            return err
        return BadRequest(text, code=code or None, **kw)
    return UpstreamError(text, **kw)


def from_stream_error(body: bytes, dep: Deployment, status: int = 200) -> ProviderError:
    """An error object the vendor sent inside a stream (Anthropic ``event: error``, OpenRouter
    ``data: {"error": ...}``): classified like an HTTP error of the status it names."""
    msg, etype, code, _ = _fields(body)
    implied = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500, "authentication_error": 401,
               "invalid_request_error": 400, "timeout_error": 504}.get(etype)
    if implied is None and code.isdigit():
        implied = int(code)
    return from_response(implied or (status if status >= 400 else 500), body, {}, dep)


def from_exception(exc: BaseException, dep: Deployment, status: int | None = None) -> ProviderError:
    """The error for a transport failure (connect refused, socket timeout, cut body)."""
    kw: dict[str, Any] = {"deployment": dep.id, "upstream_status": status}
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Timeout(f"{dep.id}: no answer from upstream within {dep.timeout_s:g}s", **kw)
    detail = scrub(f"{type(exc).__name__}: {exc}", dep)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamError(f"{dep.id}: upstream body cut off ({detail})", **kw)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(f"{dep.id}: cannot connect to upstream ({detail})", **kw)
    return UpstreamError(f"{dep.id}: upstream transport error ({detail})", **kw)


def malformed(dep: Deployment, status: int, what: str) -> UpstreamError:
    return UpstreamError(scrub(f"{dep.id}: malformed upstream answer: {what}", dep), deployment=dep.id,
                         upstream_status=status)


def cut(dep: Deployment, status: int) -> UpstreamError:
    return UpstreamError(f"{dep.id}: upstream stream ended before its end marker", deployment=dep.id,
                         upstream_status=status)
