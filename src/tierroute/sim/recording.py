"""Every request the simulator receives, as it arrived, for ``GET /_sim/requests``: a test checks
what a gateway forwarded (path and query, every header, the exact body bytes), not only what the
simulator understood of it.

Each entry (oldest first, the last ``RECENT`` kept)::

    {"method": "POST", "path": "/v1/messages", "query": "beta=true",
     "path_qs": "/v1/messages?beta=true", "dialect": "anthropic", "model": "claude-...",
     "headers": {"Content-Type": "application/json", ...},      # as received; repeats joined by ", "
     "header_list": [["Content-Type", "application/json"], ...], # as received, in order, repeats kept
     "body": {...} | null,                                       # the JSON body decoded (null if not JSON)
     "raw_body": "..." | null,                                   # the body as text (null if not UTF-8)
     "raw_body_base64": "...",                                   # the exact bytes
     "status": 200, "time": 1767225600.123}

Requests to ``/_sim/*`` are not recorded. ``status`` is the HTTP status sent (null while the
answer is still being written, or when the client went away before it).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from tierroute.sim.state import STATE
from tierroute.sim.wire import decode

TOO_LARGE = "tierroute_sim_body_too_large"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sim/"):
        return await handler(request)
    try:
        raw: bytes | None = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raw, request[TOO_LARGE] = None, True
    body = _json(raw)
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "path_qs": request.path_qs,
        "dialect": _dialect(request),
        "model": _model(request, body),
        "headers": _headers(request),
        "header_list": [[str(k), v] for k, v in request.headers.items()],
        "body": body,
        "raw_body": _text(raw),
        "raw_body_base64": base64.b64encode(raw).decode() if raw is not None else None,
        "status": None,
        "time": time.time(),
    }
    request.app[STATE].recent.append(entry)
    response = await handler(request)
    entry["status"] = response.status
    return response


def _json(raw: bytes | None) -> Any:
    if not raw:
        return None
    try:
        return decode(raw)
    except msgspec.DecodeError:
        return None


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def _headers(request: web.Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, v in request.headers.items():
        k = str(name)
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


def _dialect(request: web.Request) -> str:
    path = request.path
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/responses"):
        return "openai_responses"
    if path.startswith("/v1beta/") or (path.startswith("/v1/models/") and ":" in path):
        return "gemini"
    if path.startswith("/v1/models") and (
        "anthropic-version" in request.headers or "x-api-key" in request.headers
    ):
        return "anthropic"
    return "openai"


def _model(request: web.Request, body: Any) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str):
        return model
    name = request.match_info.get("name", "")
    if ":" in name:
        return name.rpartition(":")[0].removeprefix("models/")
    return ""
