"""Vendor failures onto tierroute's closed error set, in one place for all three dialects.

Every vendor wraps errors in JSON of roughly the same shape (OpenAI ``{"error": {"message",
"type", "code"}}``, Anthropic ``{"type": "error", "error": {"type", "message"}}``, Gemini
``{"error": {"code", "message", "status", "details"}}``); we read whichever is there, classify by
HTTP status first and by the vendor's code/message second (a context overflow and a malformed
request are both a 400). Messages may quote the vendor but never a key: every configured key is
masked by value (and by fragment) and anything that looks like a key by shape, before the error is
built; this module is the only way vendor text becomes our errors.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
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

# Key shapes vendors issue, and a bearer header echoed back.
_KEYLIKE = re.compile(
    r"(?:sk|pk|rk)[-_][A-Za-z0-9_\-*.]{4,}|AIza[0-9A-Za-z_\-]{10,}|gsk_[A-Za-z0-9]{8,}|tgp_v\d_[A-Za-z0-9_\-]{8,}"
    r"|(?:xai|pplx|nvapi|csk)-[A-Za-z0-9_\-]{8,}|(?:hf|r8|ghp|github_pat)_[A-Za-z0-9_]{8,}|Bearer\s+\S+")
# A long url-safe token soon after a word that says it is a credential ("Invalid API key provided: ...").
_AFTER_WORD = re.compile(r"(?i)\b((?:key|token|secret|credential|authorization|password)s?\b"
                         r"[^A-Za-z0-9]{1,5}(?:[A-Za-z]{1,12}[^A-Za-z0-9]{1,5}){0,3})[A-Za-z0-9_\-.~+/=]{32,}")
# A vendor's own partial masking ("sk-abc***wxyz", "4fX2...9kLm"): the visible ends are key fragments.
_MASKED = re.compile(r"[A-Za-z0-9_\-]*\*{3,}[A-Za-z0-9_\-*]*|[A-Za-z0-9_\-]{3,}(?:\.{3}|\u2026)[A-Za-z0-9_\-]{2,}")
_TOKEN = re.compile(r"[A-Za-z0-9_\-.~+/=]{6,}")
_FRAGMENT = 6  # a token sharing this many consecutive characters with a configured key is masked whole
_MIN_SECRET = 8
_MIN_FRAGMENTED = 20
_CREDENTIAL_HEADER = re.compile(r"(?i)key|auth|token|secret")

# Every configured secret seen (keys and configured header values), so an error from one deployment
# that quotes another's key is masked too. Filled by ``remember`` and by every error mapped here.
_secrets: dict[str, frozenset[str]] = {}

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


def remember(deps: Iterable[Deployment]) -> None:
    """Register the secrets of these deployments (the gateway may call it with all of them at start):
    the key and configured headers whose name says credential. Fragments are matched only for long
    secrets: real keys are random and 32+ characters, a short test key such as ``sk-simulator`` would
    mask ordinary words."""
    for dep in deps:
        values = [dep.api_key, *(v for k, v in dep.headers.items() if _CREDENTIAL_HEADER.search(k))]
        for value in values:
            if value and len(value) >= _MIN_SECRET and value not in _secrets:
                long = len(value) >= _MIN_FRAGMENTED
                _secrets[value] = frozenset(value[i:i + _FRAGMENT] for i in range(len(value) - _FRAGMENT + 1)) \
                    if long else frozenset()


def scrub(text: str, dep: Deployment) -> str:
    """The text with every configured secret masked by value (whole, or any fragment of 6+ characters
    inside a token, whatever the key's shape), then anything shaped like a key or a vendor's partial
    masking of one. Upstream text reaches tenants only through here."""
    remember((dep,))
    if dep.api_key and len(dep.api_key) >= 4:
        text = text.replace(dep.api_key, "***")
    for secret in _secrets:
        text = text.replace(secret, "***")

    def by_fragment(m: re.Match[str]) -> str:
        tok = m.group(0)
        grams = {tok[i:i + _FRAGMENT] for i in range(len(tok) - _FRAGMENT + 1)}
        return "***" if any(not grams.isdisjoint(f) for f in _secrets.values()) else tok

    if _secrets:
        text = _TOKEN.sub(by_fragment, text)
    text = _KEYLIKE.sub("***", text)
    text = _AFTER_WORD.sub(lambda m: m.group(1) + "***", text)
    return _MASKED.sub("***", text)


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
