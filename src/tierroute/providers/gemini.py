"""The Gemini dialect: ``POST {base_url}/v1beta/models/{m}:generateContent`` with ``x-goog-api-key``.

Translation rules live in ``gemini_wire``. Streams use ``:streamGenerateContent?alt=sse``: every
event is a partial ``GenerateContentResponse``; its text and function calls become OpenAI deltas
as they arrive. Gemini sends no end-of-stream marker, so a stream that ends before any candidate
carried a ``finishReason`` counts as cut (``UpstreamError``). ``n`` maps to ``candidateCount``.

Embeddings use ``:batchEmbedContents``. Gemini reports no token usage for them, so usage is an
estimate of about four characters per token (the catalog prices Gemini embeddings from it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from tierroute.errors import BadRequest, ProviderError
from tierroute.providers import errmap
from tierroute.providers.call import open_stream, post, transport_error
from tierroute.providers.gemini_wire import (
    build_request,
    candidate_parts,
    check_prompt_blocked,
    finish_reason,
    parse_response,
    usage_of,
)
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
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    ToolCallDelta,
)

_decode = msgspec.json.decode
_encode = msgspec.json.encode
_perf = time.perf_counter


def _headers(dep: Deployment) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": "application/json"}
    if dep.api_key:
        h["x-goog-api-key"] = dep.api_key
    if dep.headers:
        h.update(dep.headers)
    return h


def _model_path(dep: Deployment) -> str:
    m = dep.upstream_model
    return m[len("models/"):] if m.startswith("models/") else m


def _doc(data: bytes, dep: Deployment, status: int) -> dict[str, Any]:
    try:
        doc = _decode(data)
    except msgspec.DecodeError as exc:
        raise errmap.malformed(dep, status, str(exc)) from None
    if isinstance(doc, list) and len(doc) == 1:
        doc = doc[0]
    if not isinstance(doc, dict):
        raise errmap.malformed(dep, status, "the answer is not a JSON object")
    if "error" in doc:
        raise errmap.from_stream_error(data, dep, status)
    return doc


class GeminiAdapter:
    dialect = "gemini"

    async def send(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> ChatResponse:
        url = f"{dep.base_url}/v1beta/models/{_model_path(dep)}:generateContent"
        data = await post(url, _encode(build_request(req, dep, info.dropped)), _headers(dep), dep, info)
        doc = _doc(data, dep, info.status or 200)
        resp = parse_response(doc, dep, info.status or 200)
        if not resp.choices:
            raise errmap.malformed(dep, info.status or 200, "no candidates in the answer")
        return check_filtered(resp, dep, info.status)

    def stream(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> AsyncIterator[ChatChunk]:
        return hold_empty_start(self._stream(req, dep, info), dep, info)

    async def _stream(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> AsyncIterator[ChatChunk]:
        url = f"{dep.base_url}/v1beta/models/{_model_path(dep)}:streamGenerateContent?alt=sse"
        resp = await open_stream(url, _encode(build_request(req, dep, info.dropped)), _headers(dep), dep, info)
        chunk_id, created, model = "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time()), dep.upstream_model
        started: set[int] = set()
        calls_seen: dict[int, int] = {}
        finished = False
        usage: dict[str, Any] | None = None
        ended = False
        try:
            async for ev in iter_events(resp):
                if info.first_byte_at is None:
                    info.first_byte_at = _perf()
                if not ev.data:
                    continue
                doc = _doc(ev.data, dep, resp.status)
                check_prompt_blocked(doc, dep, resp.status)
                model = doc.get("modelVersion") or model
                chunk_id = doc.get("responseId") or chunk_id
                if doc.get("usageMetadata"):
                    usage = doc["usageMetadata"]
                choices = []
                for i, cand in enumerate(doc.get("candidates") or ()):
                    idx = cand.get("index", i)
                    text, calls = candidate_parts(cand)
                    deltas = None
                    if calls:
                        base = calls_seen.get(idx, 0)
                        calls_seen[idx] = base + len(calls)
                        deltas = [ToolCallDelta(index=base + k, id=c.id, type="function",
                                                function={"name": c.function.name,
                                                          "arguments": c.function.arguments})
                                  for k, c in enumerate(calls)]
                    fr = finish_reason(cand.get("finishReason"), calls_seen.get(idx, 0) > 0)
                    if fr is not None:
                        finished = True
                    role = None if idx in started else "assistant"
                    started.add(idx)
                    choices.append(ChunkChoice(index=idx, delta=Delta(role=role, content=text, tool_calls=deltas),
                                               finish_reason=fr))
                if choices:
                    yield ChatChunk(id=chunk_id, created=created, model=model, choices=choices)
            ended = True
        except ProviderError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(exc, dep, info) from None
        finally:
            if ended:
                resp.release()
            else:
                resp.close()
        if not finished:
            raise errmap.cut(dep, resp.status)
        yield ChatChunk(id=chunk_id, created=created, model=model, choices=[], usage=usage_of(usage))

    async def embed(self, req: EmbeddingRequest, dep: Deployment, info: CallInfo) -> EmbeddingResponse:
        texts = [req.input] if isinstance(req.input, str) else req.input
        if not texts or not all(isinstance(t, str) for t in texts):
            err = BadRequest(f"{dep.id}: Gemini embeds text only, not token ids", param="input",
                             deployment=dep.id)
            err.fallback = True
            raise err
        m = _model_path(dep)
        reqs = []
        for t in texts:
            r: dict[str, Any] = {"model": f"models/{m}", "content": {"parts": [{"text": t}]}}
            if req.dimensions:
                r["outputDimensionality"] = req.dimensions
            reqs.append(r)
        url = f"{dep.base_url}/v1beta/models/{m}:batchEmbedContents"
        data = await post(url, _encode({"requests": reqs}), _headers(dep), dep, info)
        doc = _doc(data, dep, info.status or 200)
        embs = doc.get("embeddings")
        if not isinstance(embs, list) or len(embs) != len(texts):
            raise errmap.malformed(dep, info.status or 200, "embeddings missing or of the wrong count")
        tokens = sum(max(1, len(t) // 4) for t in texts)  # type: ignore[arg-type]
        return EmbeddingResponse(
            data=[Embedding(index=i, embedding=list(e.get("values") or [])) for i, e in enumerate(embs)],
            model=dep.upstream_model,
            usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
        )
