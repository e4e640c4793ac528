"""``POST {base_url}/responses``: a Responses request forwarded to a provider that serves OpenAI's
Responses API, as the client sent it (model swapped, the provider's key). The answer and each stream
event go back byte for byte; ``responses_wire`` reads them for accounting.

A stream is over at ``response.completed`` / ``response.incomplete``; ``response.failed`` and
``error`` events raise (before the first content, execution may still fall back); a stream that
ends before any of these was cut and raises ``UpstreamError``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import msgspec

from tierroute.errors import ProviderError
from tierroute.providers import errmap
from tierroute.providers.call import open_stream, post, transport_error
from tierroute.providers.forward import forward_body, forward_headers
from tierroute.providers.responses_wire import call_of, finish_of, parse_response, usage_of
from tierroute.providers.sse import iter_events
from tierroute.types import (
    CallInfo,
    ChatChunk,
    ChatResponse,
    ChunkChoice,
    Delta,
    Deployment,
    Inbound,
    ToolCallDelta,
)

_decode = msgspec.json.decode
_perf = time.perf_counter
_HELD = frozenset(("response.created", "response.in_progress", "response.queued"))


def _request(fwd: Inbound, dep: Deployment, info: CallInfo, own: Mapping[str, str], stream: bool
             ) -> tuple[str, bytes, dict[str, str]]:
    headers = forward_headers(fwd, own)
    if stream:
        headers["accept"] = "text/event-stream"
    return (dep.base_url + "/responses",
            forward_body(fwd, dep, max_tokens_field="max_output_tokens", dropped=info.dropped), headers)


async def send(fwd: Inbound, dep: Deployment, info: CallInfo, own: Mapping[str, str]) -> ChatResponse:
    url, body, headers = _request(fwd, dep, info, own, False)
    data = await post(url, body, headers, dep, info)
    try:
        doc = _decode(data)
    except msgspec.DecodeError as exc:
        raise errmap.malformed(dep, info.status or 200, str(exc)) from None
    if not isinstance(doc, dict) or doc.get("object") != "response":
        raise errmap.from_stream_error(data, dep, info.status or 200)
    resp = parse_response(doc, dep.upstream_model)
    resp.raw = data
    return resp


async def stream(fwd: Inbound, dep: Deployment, info: CallInfo, own: Mapping[str, str]) -> AsyncIterator[ChatChunk]:
    url, body, headers = _request(fwd, dep, info, own, True)
    resp = await open_stream(url, body, headers, dep, info)
    rid, created, model = "", int(time.time()), dep.upstream_model
    calls: dict[str, int] = {}  # item id -> tool-call index
    ended = False

    def chunk(raw: bytes, delta: Delta | None, finish: Any = None) -> ChatChunk:
        choices = [ChunkChoice(index=0, delta=delta, finish_reason=finish)] if delta is not None else []
        return ChatChunk(id=rid, created=created, model=model, choices=choices, raw=raw)

    try:
        async for ev in iter_events(resp):
            if info.first_byte_at is None:
                info.first_byte_at = _perf()
            raw = (b"event: " + ev.event.encode() + b"\n" if ev.event else b"") + b"data: " + ev.data + b"\n\n"
            try:
                doc = _decode(ev.data)
            except msgspec.DecodeError as exc:
                raise errmap.malformed(dep, resp.status, f"stream event: {exc}") from None
            kind = doc.get("type") if isinstance(doc, dict) else None
            if kind in ("error", "response.failed"):
                raise errmap.from_stream_error(ev.data, dep)
            if kind in _HELD:
                r = doc.get("response") or {}
                rid, model = r.get("id") or rid, r.get("model") or model
                yield chunk(raw, None)  # held back until content, so a failure may still fall back
            elif kind == "response.output_text.delta":
                yield chunk(raw, Delta(content=doc.get("delta") or ""))
            elif kind == "response.output_item.added" and (call := call_of(doc.get("item") or {})) is not None:
                calls[(doc.get("item") or {}).get("id") or ""] = len(calls)
                yield chunk(raw, Delta(tool_calls=[ToolCallDelta(
                    index=len(calls) - 1, id=call.id, type="function",
                    function={"name": call.function.name, "arguments": ""})]))
            elif kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
                yield chunk(raw, Delta(tool_calls=[ToolCallDelta(
                    index=calls.get(doc.get("item_id") or "", 0), function={"arguments": doc.get("delta") or ""})]))
            elif kind in ("response.completed", "response.incomplete"):
                r = doc.get("response") or {}
                yield chunk(b"", Delta(), finish_of(r, bool(calls)))
                last = ChatChunk(id=rid, created=created, model=model, choices=[], usage=usage_of(r.get("usage")),
                                 raw=raw)
                ended = True
                yield last
                break
            else:  # reasoning summaries, content parts, item done: content for the client
                yield chunk(raw, Delta())
    except ProviderError:
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise transport_error(exc, dep, info) from None
    finally:
        if ended:
            resp.release()
        else:
            resp.close()
    if not ended:
        raise errmap.cut(dep, resp.status)
