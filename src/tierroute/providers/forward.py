"""Forwarding a client's request in its own dialect: what changes and what does not.

Only what routing must change is changed: the model id (the chosen deployment's), the key and the
base URL, plus the two things accounting needs (usage in an OpenAI chat stream) and a vendor must
get (``max_tokens`` within the model's limit, tierroute's own routing hints out of ``metadata``).
Every other field and every vendor header the client sent arrives as sent, including ones tierroute
does not know yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from tierroute.providers.reasoning import CARRIED_PREFIX
from tierroute.types import Deployment, Inbound

_encode = msgspec.json.encode
HINT_KEYS = ("task", "complexity", "willingness_to_pay")

# Client headers that never go upstream: transport (aiohttp sets its own), the client's credentials
# for tierroute (the provider's key replaces them), account scoping tied to the client's own key.
NOT_FORWARDED = frozenset((
    "host", "content-length", "content-type", "connection", "keep-alive", "transfer-encoding", "te", "trailer",
    "upgrade", "proxy-authorization", "proxy-connection", "authorization", "x-api-key", "api-key",
    "x-goog-api-key", "cookie", "accept-encoding", "accept", "expect", "origin", "referer",
    "openai-organization", "openai-project", "x-request-id", "forwarded", "x-real-ip",
))
NOT_FORWARDED_PREFIXES = ("x-tierroute-", "x-forwarded-", "sec-", "cache-control")


def forwardable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's headers a vendor of its dialect may read, lower-cased."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low in NOT_FORWARDED or low.startswith(NOT_FORWARDED_PREFIXES):
            continue
        out[low] = value
    return out


def forward_headers(fwd: Inbound, own: Mapping[str, str]) -> dict[str, str]:
    """The client's vendor headers, then the adapter's own (content type, the provider's key and
    configured headers) on top, so the provider's credentials always win."""
    h = dict(fwd.headers)
    for name, value in own.items():
        h[name.lower()] = value
    return h


# Per dialect, the request fields that ask a model to reason: a model without the reasoning capability
# refuses them (OpenAI: "Unsupported parameter"), so a forward to one leaves them out and says so.
REASONING_FIELDS = {"openai-chat": ("reasoning_effort",), "openai-responses": ("reasoning",),
                    "anthropic": ("thinking",)}


def forward_body(fwd: Inbound, dep: Deployment, *, usage_in_stream: bool = False,
                 max_tokens_field: str | None = None, dropped: list[str] | None = None) -> bytes:
    doc: dict[str, Any] = dict(fwd.body)
    doc["model"] = dep.upstream_model
    if not dep.reasoning:
        for name in REASONING_FIELDS.get(fwd.dialect, ()):
            if doc.pop(name, None) is not None and dropped is not None:
                dropped.append(name)
        if fwd.dialect == "openai-responses" and isinstance(doc.get("include"), list):
            kept = [i for i in doc["include"] if i != "reasoning.encrypted_content"]
            if kept:
                doc["include"] = kept
            else:
                del doc["include"]
    if fwd.dialect == "openai-responses" and isinstance(doc.get("input"), list):
        items = [i for i in doc["input"] if not _carried_item(i)]
        if len(items) != len(doc["input"]):
            doc["input"] = items
            if dropped is not None:
                dropped.append("thinking")
    meta = doc.get("metadata")
    if isinstance(meta, dict) and any(k in meta for k in HINT_KEYS):
        meta = {k: v for k, v in meta.items() if k not in HINT_KEYS}
        if meta:
            doc["metadata"] = meta
        else:
            del doc["metadata"]
    if usage_in_stream and doc.get("stream"):
        opts = doc.get("stream_options")
        doc["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
    for field in (max_tokens_field, "max_completion_tokens") if max_tokens_field and dep.max_output else ():
        asked = doc.get(field)
        if isinstance(asked, int) and asked > dep.max_output:
            doc[field] = dep.max_output
            thinking = doc.get("thinking")  # Anthropic wants budget_tokens < max_tokens
            if isinstance(thinking, dict) and isinstance(thinking.get("budget_tokens"), int) \
                    and thinking["budget_tokens"] >= doc[field]:
                doc["thinking"] = {**thinking, "budget_tokens": doc[field] - 1}
    return _encode(doc)


def _carried_item(item: Any) -> bool:
    """A reasoning item tierroute wrote for another vendor's thinking (``reasoning.carry``)."""
    return (isinstance(item, dict) and item.get("type") == "reasoning"
            and str(item.get("encrypted_content") or "").startswith(CARRIED_PREFIX))


def url_with_query(url: str, fwd: Inbound) -> str:
    return f"{url}?{fwd.query}" if fwd.query else url
