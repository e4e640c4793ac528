"""The OpenAI-compatible adapter against a scripted vendor: wire request, lenient answers, streams, errors."""

from __future__ import annotations

import time

import pytest

from tierroute.errors import (
    AuthFailed,
    BadRequest,
    ContextTooLong,
    Overloaded,
    RateLimited,
    Timeout,
    UpstreamError,
)
from tierroute.providers import get_adapter
from tierroute.types import CallInfo, ChatRequest, EmbeddingRequest, Message

from .conftest import KEY, dep
from .upstream import Reply, Upstream, sse_data

A = get_adapter("openai")


def req(**kw: object) -> ChatRequest:
    base: dict[str, object] = {"model": "auto", "messages": [Message(role="user", content="hi")]}
    base.update(kw)
    return ChatRequest(**base)  # type: ignore[arg-type]


def answer(**over: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    doc.update(over)
    return doc


async def test_request_goes_out_with_vendor_model_and_key_and_without_our_metadata(upstream: Upstream) -> None:
    upstream.json(answer())
    d = dep("openai", upstream.base_url)
    info = CallInfo()
    r = await A.send(req(metadata={"task": "coding"}, temperature=0.3, stop=["END"]), d, info)
    seen = upstream.last
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.body["model"] == "gpt-4o-mini"
    assert "metadata" not in seen.body and "stream" not in seen.body
    assert seen.body["temperature"] == 0.3 and seen.body["stop"] == ["END"]
    assert r.choices[0].message.content == "hello" and r.usage.total_tokens == 7
    assert info.status == 200 and info.first_byte_at is not None


async def test_lenient_vendor_output_is_normalised(upstream: Upstream) -> None:
    # Ollama/DeepSeek-style oddities: no created, null usage, unknown finish reason, extra fields,
    # tool arguments as an object, content as a list of parts
    upstream.json({"id": "x", "model": "m", "usage": None, "extra": {"a": 1},
                   "choices": [{"message": {"role": "assistant", "content": [{"type": "text", "text": "a"},
                                                                             {"type": "text", "text": "b"}]},
                                "finish_reason": "eos"}]})
    r = await A.send(req(), dep("openai", upstream.base_url), CallInfo())
    assert r.choices[0].message.content == "ab"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens == 0 and r.created > 1_600_000_000
    upstream.json({"choices": [{"message": {"content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
        "finish_reason": "weird_new_reason"}], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    r = await A.send(req(), dep("openai", upstream.base_url), CallInfo())
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "f" and call.function.arguments == '{"x":1}'
    assert r.choices[0].finish_reason == "stop" and r.usage.total_tokens == 7
    assert r.id.startswith("chatcmpl-")


def _chunk(content: str | None = None, finish: str | None = None, usage: dict[str, int] | None = None,
           choices: bool = True) -> bytes:
    doc: dict[str, object] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                              "choices": [{"index": 0, "delta": {"content": content} if content else {},
                                           "finish_reason": finish}] if choices else []}
    if usage:
        doc["usage"] = usage
    return sse_data(doc)


async def test_stream_passes_chunks_through_as_they_arrive(upstream: Upstream) -> None:
    events = [_chunk("one "), _chunk("two "), _chunk("three"), _chunk(finish="stop"),
              _chunk(usage={"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}, choices=False),
              b"data: [DONE]\n\n"]
    upstream.sse(events, chunk_delay_s=0.15)
    info = CallInfo()
    t0 = time.perf_counter()
    got, arrival = [], []
    async for c in A.stream(req(stream=True), dep("openai", upstream.base_url), info):
        got.append(c)
        arrival.append(time.perf_counter() - t0)
    # we always ask for usage, whatever the caller said, so the gateway can account tokens
    assert upstream.last.body["stream"] is True
    assert upstream.last.body["stream_options"] == {"include_usage": True}
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == "one two three"
    assert got[-1].choices == [] and got[-1].usage is not None and got[-1].usage.total_tokens == 7
    # the first chunk reached us long before the vendor finished: not buffered
    assert arrival[0] < arrival[-1] - 0.4
    assert info.first_byte_at is not None


async def test_stream_with_crlf_lines_split_across_packets(upstream: Upstream) -> None:
    whole = (_chunk("héllo") + _chunk(finish="length") + b"data: [DONE]\n\n").replace(b"\n", b"\r\n")
    pieces = [whole[i:i + 7] for i in range(0, len(whole), 7)]
    upstream.sse(pieces)
    got = [c async for c in A.stream(req(stream=True), dep("openai", upstream.base_url), CallInfo())]
    assert got[0].choices[0].delta.content == "héllo"
    assert got[1].choices[0].finish_reason == "length"


async def test_stream_cut_mid_way_raises_after_the_chunks_it_had(upstream: Upstream) -> None:
    upstream.sse([_chunk("partial "), _chunk("answer"), b"<<CUT>>"])
    got = []
    with pytest.raises(UpstreamError) as ei:
        async for c in A.stream(req(stream=True), dep("openai", upstream.base_url), CallInfo()):
            got.append(c)
    assert len(got) == 2
    assert ei.value.deployment == "openai/gpt-4o-mini"


async def test_stream_clean_close_without_done_or_finish_is_a_cut(upstream: Upstream) -> None:
    upstream.sse([_chunk("partial")])
    with pytest.raises(UpstreamError, match="end marker"):
        async for _ in A.stream(req(stream=True), dep("openai", upstream.base_url), CallInfo()):
            pass


async def test_error_inside_a_stream_raises_mapped(upstream: Upstream) -> None:
    upstream.sse([_chunk("a"), sse_data({"error": {"message": "Rate limit reached", "code": 429}})])
    it = A.stream(req(stream=True), dep("openai", upstream.base_url), CallInfo()).__aiter__()
    assert (await it.__anext__()).choices[0].delta.content == "a"
    with pytest.raises(RateLimited):
        await it.__anext__()


async def test_error_before_first_chunk_is_raised_from_first_anext(upstream: Upstream) -> None:
    upstream.json({"error": {"message": "overloaded"}}, status=503)
    it = A.stream(req(stream=True), dep("openai", upstream.base_url), CallInfo()).__aiter__()
    with pytest.raises(Overloaded) as ei:
        await it.__anext__()
    assert ei.value.upstream_status == 503


@pytest.mark.parametrize(("status", "body", "headers", "cls"), [
    (429, {"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}},
     {"retry-after": "7"}, RateLimited),
    (401, {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}}, {}, AuthFailed),
    (403, {"error": {"message": "forbidden"}}, {}, AuthFailed),
    (400, {"error": {"message": "This model's maximum context length is 128000 tokens",
                     "code": "context_length_exceeded"}}, {}, ContextTooLong),
    (400, {"error": {"message": "'messages' must be non-empty", "code": None}}, {}, BadRequest),
    (500, {"error": {"message": "boom"}}, {}, UpstreamError),
    (502, b"<html>Bad Gateway</html>", {}, UpstreamError),
    (503, {"error": {"message": "busy"}}, {}, Overloaded),
    (504, {"error": {"message": "slow"}}, {}, Timeout),
])
async def test_vendor_errors_map_to_the_closed_set(upstream: Upstream, status: int, body: object,
                                                   headers: dict[str, str], cls: type) -> None:
    raw = body if isinstance(body, bytes) else __import__("json").dumps(body).encode()
    upstream.queue(Reply(status=status, body=raw, headers=headers))
    info = CallInfo()
    with pytest.raises(cls) as ei:
        await A.send(req(), dep("openai", upstream.base_url), info)
    err = ei.value
    assert err.deployment == "openai/gpt-4o-mini" and err.upstream_status == status and info.status == status
    assert KEY not in str(err) and "SECRETKEY" not in str(err)
    if cls is RateLimited:
        assert err.retry_after == 7.0


async def test_malformed_json_and_timeouts(upstream: Upstream) -> None:
    upstream.queue(Reply(body=b'{"choices": [{"message": '))
    with pytest.raises(UpstreamError, match="malformed"):
        await A.send(req(), dep("openai", upstream.base_url), CallInfo())
    upstream.queue(Reply(body=b"{}", delay_s=1.0))
    t0 = time.perf_counter()
    with pytest.raises(Timeout):
        await A.send(req(), dep("openai", upstream.base_url, timeout_s=0.2), CallInfo())
    assert time.perf_counter() - t0 < 0.9
    # a stream that goes quiet mid-way times out on the idle gap
    upstream.sse([_chunk("a"), _chunk("b")], chunk_delay_s=1.0)
    with pytest.raises(Timeout):
        async for _ in A.stream(req(stream=True), dep("openai", upstream.base_url, timeout_s=0.3), CallInfo()):
            pass


async def test_connection_refused_is_upstream_error() -> None:
    d = dep("openai", "http://127.0.0.1:9")
    with pytest.raises(UpstreamError) as ei:
        await A.send(req(), d, CallInfo())
    assert KEY not in str(ei.value)


async def test_ratelimit_headers_reach_callinfo(upstream: Upstream) -> None:
    upstream.json(answer(), headers={"x-ratelimit-remaining-requests": "59", "x-ratelimit-reset-requests": "1m0s",
                                     "x-ratelimit-remaining-tokens": "149000", "x-ratelimit-reset-tokens": "20ms"})
    info = CallInfo()
    await A.send(req(), dep("openai", upstream.base_url), info)
    assert info.ratelimit is not None
    assert info.ratelimit.remaining_requests == 59 and info.ratelimit.reset_requests_s == 60.0
    assert info.ratelimit.remaining_tokens == 149000 and info.ratelimit.reset_tokens_s == pytest.approx(0.02)


async def test_embeddings(upstream: Upstream) -> None:
    upstream.json({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                                              {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]}],
                   "model": "text-embedding-3-small", "usage": {"prompt_tokens": 4, "total_tokens": 4}})
    d = dep("openai", upstream.base_url, upstream_model="text-embedding-3-small")
    r = await A.embed(EmbeddingRequest(model="emb", input=["a", "b"]), d, CallInfo())
    assert upstream.last.path == "/v1/embeddings" and upstream.last.body["model"] == "text-embedding-3-small"
    assert [e.embedding for e in r.data] == [[0.1, 0.2], [0.3, 0.4]] and r.usage.prompt_tokens == 4


async def test_a_key_of_any_shape_is_masked_when_the_vendor_echoes_it(upstream: Upstream) -> None:
    odd = "tenant42.Zq9xLmPw7"  # no vendor prefix, so only the deployment's own key can match it
    upstream.json({"error": {"message": f"key {odd} is revoked"}}, status=401)
    with pytest.raises(AuthFailed) as ei:
        await A.send(req(), dep("openai", upstream.base_url, api_key=odd), CallInfo())
    assert odd not in str(ei.value) and "revoked" in str(ei.value)


async def test_abandoning_a_stream_frees_the_connection(upstream: Upstream) -> None:
    from tierroute.providers.http import session

    upstream.sse([_chunk("a"), _chunk("b"), _chunk("c"), _chunk(finish="stop"), b"data: [DONE]\n\n"],
                 chunk_delay_s=0.05)
    gen = A.stream(req(stream=True), dep("openai", upstream.base_url), CallInfo())
    async for _ in gen:
        break  # the client went away after the first chunk
    await gen.aclose()  # type: ignore[attr-defined]
    connector = session().connector
    assert connector is not None
    # nothing is left checked out of the pool (an abandoned body is closed, not leaked)
    assert len(connector._acquired) == 0  # type: ignore[attr-defined]
