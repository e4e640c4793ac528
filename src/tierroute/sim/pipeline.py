"""The path every simulated request takes, whatever its dialect:

    auth -> parse (the vendor's own 400s) -> `down`? -> forced error directive? -> vision and
    context window -> rate-limit window -> one fault draw -> timeout hang -> latency -> answer
    (JSON, or SSE paced by tokens_per_s) -> broken on purpose for stream_cut / stream_error /
    malformed

A dialect (``wire.Dialect``) supplies the parsing and the shapes; this module supplies the order,
the statistics and the faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from tierroute.sim.answer import Directives, Prompt, generate, parse_directives
from tierroute.sim.config import ModelSettings, SimConfig
from tierroute.sim.recording import TOO_LARGE
from tierroute.sim.state import STATE, SimState
from tierroute.sim.wire import Answer, Dialect, SimError, Stream, decode, now

MAX_BODY = 32 * 1024 * 1024
JSON = "application/json"

# ---------------------------------------------------------------------------- the request path


async def read_body(request: web.Request, dialect: Dialect) -> Any:
    """The decoded body; raises SimError for a body too large or not JSON."""
    too_large = SimError("too_large", f"Request payload size exceeds the limit: {MAX_BODY} bytes.")
    if request.get(TOO_LARGE):
        raise too_large
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as e:
        raise too_large from e
    try:
        return decode(raw)
    except msgspec.DecodeError as e:
        raise SimError("invalid", dialect.bad_json_message) from e


def auth(request: web.Request, dialect: Dialect, config: SimConfig) -> None:
    key = dialect.api_key(request)
    if not key:
        raise SimError("auth_missing", "")
    if config.api_keys and key not in config.api_keys:
        raise SimError("auth_invalid", "")
    dialect.check_headers(request)


def error_response(
    dialect: Dialect,
    err: SimError,
    entry: dict[str, Any] | None,
    *,
    model: str = "",
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    status, body, extra = dialect.error(err, retry_after=retry_after, model=model)
    if entry is not None:
        SimState.outcome(entry, str(status))
    if headers:
        extra = {**headers, **extra}
    return web.Response(status=status, body=body, content_type=JSON, headers=extra)


@dataclass(slots=True)
class Gate:
    kind: str | None  # the fault to act out: timeout, stream_cut, stream_error, malformed, or None
    headers: dict[str, str]  # the dialect's rate-limit headers for this request
    settings: ModelSettings
    directives: Directives


def decide(
    state: SimState,
    dialect: Dialect,
    model: str,
    entry: dict[str, Any],
    prompt: Prompt | None,
    text: str,
    ptoks: int,
) -> Gate | web.Response:
    """Decide the request's fate before any answer is made: an error response, or what to act out."""
    settings = state.settings(model)
    faults = settings.faults
    d = parse_directives(text, model)
    if faults.down:
        return error_response(dialect, SimError("unavailable", "down"), entry, model=model)
    forced = d.error if d.error != "content_filter" else None
    if forced is None and prompt is not None:
        if prompt.images and not settings.vision:
            return error_response(dialect, dialect.vision_error(prompt), entry, model=model)
        err = dialect.context_error(prompt, ptoks, settings.context_window)
        if err is not None:
            return error_response(dialect, err, entry, model=model)
    rate = state.take(model, settings, ptoks)
    headers = dialect.rate_headers(rate)
    if forced is None and rate.exceeded:
        limit = SimError("rate_limit", str(settings.rpm))
        return error_response(
            dialect, limit, entry, model=model, retry_after=max(1, math.ceil(rate.reset_s)), headers=headers
        )
    kind = forced or state.draw_fault(model, faults)
    if kind == "429":
        limit = SimError("rate_limit", str(settings.rpm))
        return error_response(
            dialect, limit, entry, model=model, retry_after=faults.retry_after_s, headers=headers
        )
    if kind == "context_length" and prompt is not None:
        window = settings.context_window
        err = dialect.context_error(prompt, max(ptoks, window + 1), window)
        return error_response(
            dialect, err or SimError("context_length", "too long"), entry, model=model, headers=headers
        )
    if kind in ("500", "503", "529") or (kind == "stream_error" and prompt is None):
        return error_response(dialect, dialect.fault_error(kind, model), entry, model=model, headers=headers)
    return Gate(kind if kind != "context_length" else None, headers, settings, d)


async def serve_chat(
    request: web.Request,
    dialect: Dialect,
    model: str,
    body: Any,
    parse: Callable[[Any], tuple[Prompt, bool, bool]],
    array: bool = False,
) -> web.StreamResponse:
    state = request.app[STATE]
    entry = state.count(model or "(none)")
    try:
        auth(request, dialect, state.config)
        if isinstance(body, SimError):
            raise body
        prompt, stream, include_usage = parse(body)
    except SimError as e:
        return error_response(dialect, e, entry, model=model)
    ptoks = prompt.prompt_tokens()
    gate = decide(state, dialect, model, entry, prompt, prompt.text, ptoks)
    if isinstance(gate, web.Response):
        return gate
    kind, settings = gate.kind, gate.settings
    if gate.kind == "stream_error" and not stream:
        err = dialect.fault_error("stream_error", model)
        return error_response(dialect, err, entry, model=model, headers=gate.headers)
    if kind == "timeout":
        await asyncio.sleep(settings.faults.hang_s)
    choices = generate(prompt, state.config.seed, settings.max_output_tokens, gate.directives)
    completion = sum(c.tokens + c.thinking_tokens for c in choices)
    answer = Answer(prompt, choices, ptoks, completion, dialect.answer_id(), now(), include_usage,
                    state.cache.use(prompt))  # fmt: skip
    headers = {**gate.headers, **dialect.request_id()}
    if settings.latency_ms:
        await asyncio.sleep(settings.latency_ms / 1000)
    if stream:
        events = dialect.stream(answer, settings.chunk_tokens * 4)
        return await _send_stream(request, dialect, events, headers, settings, kind, entry, model, array)
    if settings.tokens_per_s:
        await asyncio.sleep(completion / settings.tokens_per_s)
    return await send_json(request, dialect.render(answer), headers, kind, entry)


async def send_json(
    request: web.Request, body: bytes, headers: dict[str, str], kind: str | None, entry: dict[str, Any]
) -> web.StreamResponse:
    SimState.outcome(entry, kind or "ok")
    if kind == "malformed":
        return web.Response(body=body[: len(body) // 2], content_type=JSON, headers=headers)
    if kind == "stream_cut":  # the body promised, half of it sent, the connection dropped
        resp = web.StreamResponse(headers={"Content-Type": JSON, **headers})
        resp.content_length = len(body)
        with contextlib.suppress(ConnectionResetError):
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
        _drop(request)
        return resp
    return web.Response(body=body, content_type=JSON, headers=headers)


async def _send_stream(
    request: web.Request,
    dialect: Dialect,
    stream: Stream,
    headers: dict[str, str],
    settings: ModelSettings,
    kind: str | None,
    entry: dict[str, Any],
    model: str,
    array: bool = False,
) -> web.StreamResponse:
    ctype = "application/json; charset=UTF-8" if array else dialect.stream_content_type
    resp = web.StreamResponse(headers={"Content-Type": ctype, "Cache-Control": "no-cache", **headers})
    events, content = stream.events, stream.content
    if kind in ("stream_cut", "stream_error"):
        cut = _cut_point(content, settings.faults.stream_cut_after, stream.final_at)
        events, content = events[:cut], content[:cut]
    elif kind == "malformed":  # the first event already is not JSON
        events, content = [_truncate(events[0], dialect.sse_end)], [False]
    if kind == "stream_error":
        tail = stream.error_event(len(events)) if stream.error_event else dialect.stream_error_event(model)
        events, content = [*events, tail], [*content, False]
    if array:
        events = _json_array(events, complete=kind not in ("stream_cut", "malformed"))
        content = [*content, False][: len(events)]
    delay = settings.chunk_tokens / settings.tokens_per_s if settings.tokens_per_s else 0.0
    try:
        await resp.prepare(request)
        if delay:
            for event, paced in zip(events, content, strict=True):
                if paced:
                    await asyncio.sleep(delay)
                await resp.write(event)
        elif events:
            await resp.write(b"".join(events))
        SimState.outcome(entry, kind or "ok")
        if kind == "stream_cut":
            _drop(request)
            return resp
        await resp.write_eof()
    except ConnectionResetError:  # the client went away: nothing left to tell it
        _drop(request)
    return resp


def _cut_point(content: list[bool], after: int, final_at: int) -> int:
    """How many events go out before a cut: those up to and including the ``after``-th one that
    carries model output, and never the events that end the stream cleanly."""
    seen = 0
    for i, is_content in enumerate(content[:final_at]):
        if is_content:
            if seen == after:
                return i
            seen += 1
    return final_at


def _truncate(event: bytes, end: bytes) -> bytes:
    at = event.find(b"data: ")
    data = event[at + 6 :]
    return event[: at + 6] + data[: max(1, len(data) // 2)].rstrip(b"\r\n") + end


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def _json_array(events: list[bytes], complete: bool) -> list[bytes]:
    """``streamGenerateContent`` without ``alt=sse``: one JSON array, written element by element."""
    items = [e[6:].rstrip(b"\r\n") for e in events]
    out = [(b"[" if i == 0 else b",\r\n") + item for i, item in enumerate(items)]
    if complete:
        out.append(b"]" if out else b"[]")
    return out


# ---------------------------------------------------------------------------- shared helpers


async def body_or_error(request: web.Request, dialect: Dialect) -> Any:
    try:
        return await read_body(request, dialect)
    except SimError as e:
        return e


def model_of(body: Any) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""
