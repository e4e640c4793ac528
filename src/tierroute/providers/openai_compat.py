"""The OpenAI-compatible dialect: OpenAI, DeepSeek, OpenRouter, Together, Mistral, Groq, vLLM, Ollama.

``POST {base_url}/chat/completions`` and ``/embeddings`` with a Bearer key. A request that arrived
as OpenAI chat is forwarded as the client sent it (``providers/forward.py``: every field and vendor
header kept, the model swapped); any other is translated (``openai_translate``). The answer is
decoded once, leniently, into our types; a forwarded stream's chunks also keep the vendor's bytes,
which the API layer relays as they are.

Streams: chunks are yielded as the vendor sends them. We always ask for usage
(``stream_options.include_usage``) so the gateway can account tokens; the stream therefore ends
with a usage-only chunk (``choices == []``) even when the caller did not ask for one; the API
layer drops it for such callers. A stream that ends without ``[DONE]`` and without any finish
reason was cut and raises ``UpstreamError``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import msgspec

from tierroute.errors import ProviderError
from tierroute.providers import errmap, openai_responses
from tierroute.providers.call import open_stream, post, transport_error
from tierroute.providers.forward import forward_body, forward_headers
from tierroute.providers.guard import check_filtered, hold_empty_start
from tierroute.providers.openai_lenient import (
    LUsage,
    chunk_decoder,
    new_id,
    normalise_chunk,
    normalise_response,
    response_decoder,
)
from tierroute.providers.openai_translate import chat_body
from tierroute.providers.sse import iter_events
from tierroute.types import (
    CallInfo,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Deployment,
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
)

_encode = msgspec.json.encode
_replace = msgspec.structs.replace
_perf = time.perf_counter


class _LEmbedding(msgspec.Struct):
    embedding: list[float] | str
    index: int | None = None


class _LEmbeddingResponse(msgspec.Struct):
    data: list[_LEmbedding] | None = None
    model: str | None = None
    usage: LUsage | None = None
    error: object = None


_embed_decoder = msgspec.json.Decoder(_LEmbeddingResponse)


def _headers(dep: Deployment, stream: bool = False) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
    if dep.api_key:
        h["Authorization"] = "Bearer " + dep.api_key
    if dep.headers:
        h.update(dep.headers)
    return h


def _request(req: ChatRequest, dep: Deployment, info: CallInfo, stream: bool) -> tuple[bytes, dict[str, str]]:
    fwd = req.forwarded("openai-chat")
    if fwd is not None:
        info.forwarded = True
        return (forward_body(fwd, dep, usage_in_stream=True, max_tokens_field="max_tokens", dropped=info.dropped),
                forward_headers(fwd, _headers(dep, stream)))
    return _encode(chat_body(req, dep, info.dropped, stream=stream)), _headers(dep, stream)


class OpenAICompatAdapter:
    dialect = "openai"

    async def send(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> ChatResponse:
        if dep.responses_api and (fwd := req.forwarded("openai-responses")) is not None:
            info.forwarded = True
            return check_filtered(await openai_responses.send(fwd, dep, info, _headers(dep)), dep, info.status)
        body, headers = _request(req, dep, info, False)
        data = await post(dep.base_url + "/chat/completions", body, headers, dep, info)
        try:
            lr = response_decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise errmap.malformed(dep, info.status or 200, str(exc)) from None
        if lr.error is not None and not lr.choices:
            raise errmap.from_stream_error(data, dep, info.status or 200)
        if not lr.choices:
            raise errmap.malformed(dep, info.status or 200, "no choices in the answer")
        return check_filtered(normalise_response(lr, dep.upstream_model), dep, info.status)

    def stream(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> AsyncIterator[ChatChunk]:
        if dep.responses_api and (fwd := req.forwarded("openai-responses")) is not None:
            info.forwarded = True
            return hold_empty_start(openai_responses.stream(fwd, dep, info, _headers(dep)), dep, info)
        return hold_empty_start(self._stream(req, dep, info), dep, info)

    async def _stream(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> AsyncIterator[ChatChunk]:
        body, headers = _request(req, dep, info, True)
        resp = await open_stream(dep.base_url + "/chat/completions", body, headers, dep, info)
        forwarded = info.forwarded
        done = finished = False
        fallback_id, created, model = new_id(), int(time.time()), dep.upstream_model
        try:
            async for ev in iter_events(resp):
                if info.first_byte_at is None:
                    info.first_byte_at = _perf()
                data = ev.data
                if data == b"[DONE]":
                    done = True
                    break
                if not data:
                    continue
                try:
                    lc = chunk_decoder.decode(data)
                except msgspec.DecodeError as exc:
                    raise errmap.malformed(dep, resp.status, f"stream chunk: {exc}") from None
                if lc.error is not None:
                    raise errmap.from_stream_error(data, dep)
                chunk = normalise_chunk(lc, model, fallback_id, created)
                if forwarded:
                    chunk.raw = b"data: " + data + b"\n\n"
                for ch in chunk.choices:
                    if ch.finish_reason is not None:
                        finished = True
                yield chunk
        except ProviderError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(exc, dep, info) from None
        finally:
            if done:
                resp.release()
            else:
                resp.close()
        if not done and not finished:
            raise errmap.cut(dep, resp.status)

    async def embed(self, req: EmbeddingRequest, dep: Deployment, info: CallInfo) -> EmbeddingResponse:
        body = _encode(_replace(req, model=dep.upstream_model))
        data = await post(dep.base_url + "/embeddings", body, _headers(dep), dep, info)
        try:
            lr = _embed_decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise errmap.malformed(dep, info.status or 200, str(exc)) from None
        if lr.data is None:
            if lr.error is not None:
                raise errmap.from_stream_error(data, dep, info.status or 200)
            raise errmap.malformed(dep, info.status or 200, "no data in the embeddings answer")
        u = lr.usage.normal() if lr.usage is not None else None
        return EmbeddingResponse(
            data=[Embedding(index=e.index if e.index is not None else i, embedding=e.embedding)
                  for i, e in enumerate(lr.data)],
            model=lr.model or dep.upstream_model,
            usage=EmbeddingUsage(prompt_tokens=u.prompt_tokens, total_tokens=u.total_tokens) if u
            else EmbeddingUsage(),
        )
