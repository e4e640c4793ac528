"""The Anthropic Messages dialect: ``POST {base_url}/v1/messages`` with ``x-api-key``.

A request that arrived as Anthropic Messages is forwarded as the client sent it (``forward.py``: every
field, ``anthropic-beta`` / ``anthropic-version`` and the other vendor headers, the ``?beta=true``
query, with the model swapped and the provider's key in place of the client's); its answer and its
stream events go back byte for byte (thinking signatures, cache usage, fields tierroute does not
know), parsed on the side for accounting. Any other request is translated (``anthropic_wire``). Choices where Anthropic has no counterpart:
- ``n > 1``: Anthropic returns one answer per call, so ``send`` makes ``n`` calls in parallel and
  merges them as choices 0..n-1 with summed usage (the cost is n calls, as with OpenAI's ``n``).
  Streaming with ``n > 1`` is refused with a ``BadRequest`` that allows fallback, so execution can
  take it to a dialect that streams several choices.
- Embeddings: Anthropic has no embeddings endpoint; ``embed`` refuses (fallback allowed).

Streams map Anthropic events onto OpenAI chunks as they arrive: ``message_start`` -> the role
chunk, ``text_delta`` -> content, ``tool_use`` block start + ``input_json_delta`` -> tool-call
deltas, ``message_delta`` -> the finish reason, ``message_stop`` -> the usage chunk and the end.
``event: error`` raises; a stream that ends before ``message_stop`` raises ``UpstreamError``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
from msgspec import UNSET

from tierroute.errors import BadRequest, ProviderError
from tierroute.providers import errmap
from tierroute.providers.anthropic_wire import (
    JSON_TOOL,
    STOP_REASONS,
    build_request,
    json_tool_schema,
    parse_message,
    usage_of,
)
from tierroute.providers.call import open_stream, post, transport_error
from tierroute.providers.forward import forward_body, forward_headers, url_with_query
from tierroute.providers.guard import check_filtered, hold_empty_start
from tierroute.providers.sse import iter_events
from tierroute.types import (
    CallInfo,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ChunkChoice,
    Delta,
    Deployment,
    EmbeddingRequest,
    EmbeddingResponse,
    FinishReason,
    Inbound,
    ToolCallDelta,
    Usage,
)

API_VERSION = "2023-06-01"
_decode = msgspec.json.decode
_encode = msgspec.json.encode
_perf = time.perf_counter


def anthropic_headers(dep: Deployment) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": "application/json", "anthropic-version": API_VERSION}
    if dep.api_key:
        h["x-api-key"] = dep.api_key
    if dep.headers:
        h.update(dep.headers)
    return h


def forward_to(fwd: Inbound, dep: Deployment, path: str, **body: Any) -> tuple[str, bytes, dict[str, str]]:
    """(URL, body, headers) of a client's Anthropic request forwarded to ``dep``: the provider's key and
    configured headers win, but the client's own ``anthropic-version`` is kept (ours only if it sent none)."""
    own = anthropic_headers(dep)
    version = own.pop("anthropic-version")
    headers = forward_headers(fwd, own)
    headers.setdefault("anthropic-version", version)
    return url_with_query(dep.base_url + path, fwd), forward_body(fwd, dep, **body), headers


def _refuse(msg: str, dep: Deployment, param: str | None = None) -> BadRequest:
    err = BadRequest(f"{dep.id}: {msg}", param=param, deployment=dep.id)
    err.fallback = True  # another dialect can do it
    return err


class AnthropicAdapter:
    dialect = "anthropic"

    def _request(self, req: ChatRequest, dep: Deployment, info: CallInfo, stream: bool
                 ) -> tuple[str, bytes, dict[str, str]]:
        fwd = req.forwarded("anthropic")
        if fwd is not None:
            info.forwarded = True
            return forward_to(fwd, dep, "/v1/messages", max_tokens_field="max_tokens", dropped=info.dropped)
        return (dep.base_url + "/v1/messages", _encode(build_request(req, dep, stream=stream, dropped=info.dropped)),
                anthropic_headers(dep))

    async def _one(self, url: str, body: bytes, headers: dict[str, str], req: ChatRequest, dep: Deployment,
                   info: CallInfo, index: int) -> ChatResponse:
        data = await post(url, body, headers, dep, info)
        try:
            doc = _decode(data)
        except msgspec.DecodeError as exc:
            raise errmap.malformed(dep, info.status or 200, str(exc)) from None
        if not isinstance(doc, dict) or doc.get("type") == "error":
            raise errmap.from_stream_error(data, dep, info.status or 200)
        resp = parse_message(doc, req, dep, index)
        if info.forwarded:
            resp.raw = data
        return resp

    async def send(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> ChatResponse:
        url, body, headers = self._request(req, dep, info, False)
        n = req.n or 1
        if n == 1:
            return check_filtered(await self._one(url, body, headers, req, dep, info, 0), dep, info.status)
        try:  # a TaskGroup, so one failed call cancels its siblings instead of paying for them
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(self._one(url, body, headers, req, dep, info, i)) for i in range(n)]
        except BaseExceptionGroup as eg:
            first_err = eg.exceptions[0]
            raise first_err from None
        results = [t.result() for t in tasks]
        first = results[0]
        # the vendor bills the prompt once per call, so the usage we account is the sum
        c = sum(r.usage.completion_tokens for r in results)
        prompt_total = sum(r.usage.prompt_tokens for r in results)
        first.choices = [r.choices[0] for r in results]
        first.usage = Usage(prompt_tokens=prompt_total, completion_tokens=c, total_tokens=prompt_total + c)
        return check_filtered(first, dep, info.status)

    def stream(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> AsyncIterator[ChatChunk]:
        return hold_empty_start(self._stream(req, dep, info), dep, info)

    async def _stream(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> AsyncIterator[ChatChunk]:
        if (req.n or 1) > 1:
            raise _refuse("Anthropic cannot stream n > 1 choices", dep, "n")
        url, body, headers = self._request(req, dep, info, True)
        resp = await open_stream(url, body, headers, dep, info)
        forwarded = info.forwarded
        msg_id, model, created = "", dep.upstream_model, int(time.time())
        usage_in: dict[str, Any] = {}
        finish: FinishReason | None = None
        tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool-call index
        json_blocks: set[int] = set()  # blocks of the forced JSON tool, streamed as text
        json_mode = json_tool_schema(req) is not None
        stopped = False

        def chunk(delta: Delta, fr: FinishReason | None = None) -> ChatChunk:
            return ChatChunk(id=msg_id, created=created, model=model,
                             choices=[ChunkChoice(index=0, delta=delta, finish_reason=fr)])

        stop_raw: bytes | None = None
        try:
            async for ev in iter_events(resp):
                if info.first_byte_at is None:
                    info.first_byte_at = _perf()
                kind = ev.event
                raw = b"event: " + kind.encode() + b"\ndata: " + ev.data + b"\n\n" if forwarded and kind else None
                if kind == "ping" or not ev.data:
                    if raw is not None:  # keep-alives reach a forwarded client too
                        yield ChatChunk(id=msg_id, created=created, model=model, choices=[], raw=raw)
                    continue
                try:
                    doc = _decode(ev.data)
                except msgspec.DecodeError as exc:
                    raise errmap.malformed(dep, resp.status, f"stream event: {exc}") from None
                if not isinstance(doc, dict):
                    raise errmap.malformed(dep, resp.status, "stream event is not an object")
                kind = kind or doc.get("type")
                if kind == "error" or doc.get("type") == "error":
                    raise errmap.from_stream_error(ev.data, dep)
                made: ChatChunk | None = None
                if kind == "message_start":
                    m = doc.get("message") or {}
                    msg_id = m.get("id") or msg_id
                    model = m.get("model") or model
                    usage_in = m.get("usage") or {}
                    made = chunk(Delta(role="assistant", content=""))
                elif kind == "content_block_start":
                    block = doc.get("content_block") or {}
                    if block.get("type") == "tool_use" and json_mode and block.get("name") == JSON_TOOL:
                        json_blocks.add(doc.get("index", 0))
                    elif block.get("type") == "tool_use":
                        ti = tool_index[doc.get("index", 0)] = len(tool_index)
                        made = chunk(Delta(tool_calls=[ToolCallDelta(
                            index=ti, id=block.get("id"), type="function",
                            function={"name": block.get("name") or "", "arguments": ""})]))
                    elif block.get("type") == "text" and block.get("text") and not json_mode:
                        made = chunk(Delta(content=block["text"]))
                elif kind == "content_block_delta":
                    d = doc.get("delta") or {}
                    dt = d.get("type")
                    if dt == "text_delta" and not json_mode:  # in JSON mode only the JSON is the answer
                        made = chunk(Delta(content=d.get("text") or ""))
                    elif dt == "input_json_delta" and doc.get("index", 0) in json_blocks:
                        made = chunk(Delta(content=d.get("partial_json") or ""))
                    elif dt == "input_json_delta":
                        ti = tool_index.get(doc.get("index", 0), 0)
                        made = chunk(Delta(tool_calls=[ToolCallDelta(
                            index=ti, function={"arguments": d.get("partial_json") or ""})]))
                    elif raw is not None:  # thinking, signature, citations: content for a forwarded client
                        made = chunk(Delta())
                elif kind == "message_delta":
                    d = doc.get("delta") or {}
                    reason = d.get("stop_reason")
                    finish = STOP_REASONS.get(reason, "stop") if reason else None
                    if finish == "tool_calls" and not tool_index:
                        finish = "stop"  # only the forced JSON tool was called
                    u = doc.get("usage") or {}
                    usage_in = {**usage_in, **{k: v for k, v in u.items() if v is not None}}
                    if finish is not None:
                        made = chunk(Delta(), finish)
                elif kind == "message_stop":
                    stopped = True
                    stop_raw = raw
                    break
                if raw is not None:
                    if made is None or kind == "message_start":  # held back until content, as always
                        made = ChatChunk(id=msg_id, created=created, model=model, choices=[])
                    made.raw = raw
                if made is not None:
                    yield made
        except ProviderError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(exc, dep, info) from None
        finally:
            if stopped:
                resp.release()
            else:
                resp.close()
        if not stopped:
            raise errmap.cut(dep, resp.status)
        if finish is None:
            yield chunk(Delta(), "tool_calls" if tool_index else "stop")
        yield ChatChunk(id=msg_id, created=created, model=model, choices=[], usage=usage_of(usage_in),
                        raw=stop_raw if stop_raw is not None else UNSET)

    async def embed(self, req: EmbeddingRequest, dep: Deployment, info: CallInfo) -> EmbeddingResponse:
        raise _refuse("Anthropic has no embeddings endpoint", dep, "model")
