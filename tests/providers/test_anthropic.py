"""The Anthropic adapter against a scripted vendor: both translation directions, streams, errors."""

from __future__ import annotations

import json

import pytest

from tierroute.errors import (
    AuthFailed,
    BadRequest,
    ContentFiltered,
    ContextTooLong,
    Overloaded,
    RateLimited,
    UpstreamError,
)
from tierroute.providers import get_adapter
from tierroute.types import (
    CallInfo,
    ChatRequest,
    FunctionCall,
    FunctionDef,
    ImagePart,
    ImageURL,
    JSONSchemaSpec,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
)

from .conftest import KEY, dep
from .upstream import Reply, Upstream, sse_data

A = get_adapter("anthropic")
WEATHER = Tool(function=FunctionDef(name="get_weather", description="Weather for a city",
                                    parameters={"type": "object", "properties": {"city": {"type": "string"}}}))


def message(content: list[dict[str, object]], stop: str = "end_turn", **usage: int) -> dict[str, object]:
    return {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5, **usage}}


async def test_request_translation(upstream: Upstream) -> None:
    upstream.json(message([{"type": "text", "text": "ok"}]))
    r = ChatRequest(model="auto", messages=[
        Message(role="system", content="Be brief."),
        Message(role="developer", content="Use metric units."),
        Message(role="user", content=[TextPart(text="What is in this picture and the weather?"),
                                      ImagePart(image_url=ImageURL(url="data:image/png;base64,iVBORw0KGgo=")),
                                      ImagePart(image_url=ImageURL(url="https://example.com/cat.jpg"))]),
        Message(role="assistant", content="Let me check.", tool_calls=[
            ToolCall(id="toolu_1", function=FunctionCall(name="get_weather", arguments='{"city": "Oslo"}')),
            ToolCall(id="toolu_2", function=FunctionCall(name="get_weather", arguments='{"city": "Rome"}'))]),
        Message(role="tool", tool_call_id="toolu_1", content="5C"),
        Message(role="tool", tool_call_id="toolu_2", content="20C"),
        Message(role="user", content="Thanks. Summarise."),
    ], tools=[WEATHER], tool_choice="required", parallel_tool_calls=False, stop="STOP", temperature=1.6,
        top_p=0.9, user="u-42", seed=3)
    await A.send(r, dep("anthropic", upstream.base_url), CallInfo())
    seen = upstream.last
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == KEY and seen.headers["anthropic-version"] == "2023-06-01"
    b = seen.body
    assert b["model"] == "claude-sonnet-4-20250514"
    assert b["system"] == "Be brief.\n\nUse metric units."
    assert b["max_tokens"] == 4096  # Anthropic requires it; we default
    assert b["stop_sequences"] == ["STOP"] and b["temperature"] == 1.0 and b["top_p"] == 0.9
    assert b["metadata"] == {"user_id": "u-42"} and "seed" not in b
    assert b["tools"] == [{"name": "get_weather", "description": "Weather for a city",
                           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    assert b["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    roles = [m["role"] for m in b["messages"]]
    assert roles == ["user", "assistant", "user"]  # the two tool results and the next user text merged
    user0 = b["messages"][0]["content"]
    assert user0[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                    "data": "iVBORw0KGgo="}}
    assert user0[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    asst = b["messages"][1]["content"]
    assert asst[0] == {"type": "text", "text": "Let me check."}
    assert asst[1] == {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
    last = b["messages"][2]["content"]
    assert last[0] == {"type": "tool_result", "tool_use_id": "toolu_1", "content": "5C"}
    assert last[1] == {"type": "tool_result", "tool_use_id": "toolu_2", "content": "20C"}
    assert last[2] == {"type": "text", "text": "Thanks. Summarise."}


@pytest.mark.parametrize(("choice", "wire"), [
    ("auto", {"type": "auto"}), ("none", {"type": "none"}), ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
async def test_tool_choice(upstream: Upstream, choice: object, wire: dict[str, str]) -> None:
    upstream.json(message([{"type": "text", "text": "ok"}]))
    r = ChatRequest(model="m", messages=[Message(role="user", content="x")], tools=[WEATHER],
                    tool_choice=choice, max_completion_tokens=50)  # type: ignore[arg-type]
    await A.send(r, dep("anthropic", upstream.base_url), CallInfo())
    assert upstream.last.body["tool_choice"] == wire and upstream.last.body["max_tokens"] == 50


async def test_response_translation_text_tools_usage_and_stop_reasons(upstream: Upstream) -> None:
    upstream.json(message([{"type": "thinking", "thinking": "hmm", "signature": "s"},
                           {"type": "text", "text": "Checking."},
                           {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Oslo"}}],
                          stop="tool_use", cache_read_input_tokens=100))
    r = await A.send(ChatRequest(model="m", messages=[Message(role="user", content="x")], tools=[WEATHER]),
                     dep("anthropic", upstream.base_url), CallInfo())
    ch = r.choices[0]
    assert ch.message.content == "Checking." and ch.finish_reason == "tool_calls"
    assert ch.message.tool_calls is not None
    assert ch.message.tool_calls[0].id == "toolu_9"
    assert json.loads(ch.message.tool_calls[0].function.arguments) == {"city": "Oslo"}
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (110, 5, 115)
    for stop, finish in [("max_tokens", "length"), ("stop_sequence", "stop"), ("refusal", "content_filter"),
                         ("end_turn", "stop"), ("something_new", "stop")]:
        upstream.json(message([{"type": "text", "text": "t"}], stop=stop))
        r = await A.send(ChatRequest(model="m", messages=[Message(role="user", content="x")]),
                         dep("anthropic", upstream.base_url), CallInfo())
        assert r.choices[0].finish_reason == finish, stop


async def test_json_mode_forces_a_json_tool_and_returns_its_input_as_text(upstream: Upstream) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    upstream.json(message([{"type": "tool_use", "id": "toolu_j", "name": "json_answer", "input": {"a": 1}}],
                          stop="tool_use"))
    rf = ResponseFormat(type="json_schema", json_schema=JSONSchemaSpec(name="x", schema=schema))
    r = await A.send(ChatRequest(model="m", messages=[Message(role="user", content="x")], response_format=rf),
                     dep("anthropic", upstream.base_url), CallInfo())
    assert json.loads(r.choices[0].message.content or "") == {"a": 1}
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.tool_calls is None
    b = upstream.last.body
    assert b["tools"] == [{"name": "json_answer", "description": "Give the answer as this JSON object.",
                           "input_schema": schema}]
    assert b["tool_choice"] == {"type": "tool", "name": "json_answer"}
    # streamed: the tool's input arrives as content deltas
    upstream.sse(_events(
        START,
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "toolu_j", "name": "json_answer", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": '{"a"'}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": ': 1}'}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 5}}),
        ("message_stop", {"type": "message_stop"})))
    chunks = [c async for c in A.stream(ChatRequest(model="m", messages=[Message(role="user", content="x")],
                                                    response_format=rf, stream=True),
                                        dep("anthropic", upstream.base_url), CallInfo())]
    assert json.loads("".join(c.choices[0].delta.content or "" for c in chunks if c.choices)) == {"a": 1}
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


async def test_json_mode_with_own_tools_instructs_and_unwraps_a_fence(upstream: Upstream) -> None:
    upstream.json(message([{"type": "text", "text": '```json\n{"a": 1}\n```'}]))
    r = await A.send(ChatRequest(model="m", messages=[Message(role="user", content="x")], tools=[WEATHER],
                                 response_format=ResponseFormat(type="json_object")),
                     dep("anthropic", upstream.base_url), CallInfo())
    assert json.loads(r.choices[0].message.content or "") == {"a": 1}
    assert "JSON" in upstream.last.body["system"]
    assert [t["name"] for t in upstream.last.body["tools"]] == ["get_weather"]


async def test_n_greater_than_one_makes_parallel_calls(upstream: Upstream) -> None:
    for t in ("one", "two", "three"):
        upstream.json(message([{"type": "text", "text": t}]))
    r = await A.send(ChatRequest(model="m", messages=[Message(role="user", content="x")], n=3),
                     dep("anthropic", upstream.base_url), CallInfo())
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert sorted(c.message.content or "" for c in r.choices) == ["one", "three", "two"]
    assert r.usage.completion_tokens == 15 and r.usage.prompt_tokens == 30
    assert len(upstream.seen) == 3


def _events(*pairs: tuple[str, dict[str, object]]) -> list[bytes]:
    return [sse_data(doc, event=name) for name, doc in pairs]


START = ("message_start", {"type": "message_start", "message": {
    "id": "msg_s", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514", "content": [],
    "stop_reason": None, "usage": {"input_tokens": 12, "output_tokens": 1}}})


async def test_stream_text_and_tool_calls(upstream: Upstream) -> None:
    upstream.sse(_events(
        START,
        ("ping", {"type": "ping"}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Let me "}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "check."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_7", "name": "get_weather", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": '{"city": '}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 30}}),
        ("message_stop", {"type": "message_stop"}),
    ))
    info = CallInfo()
    chunks = [c async for c in A.stream(ChatRequest(model="m", messages=[Message(role="user", content="x")],
                                                    tools=[WEATHER], stream=True),
                                        dep("anthropic", upstream.base_url), info)]
    assert upstream.last.body["stream"] is True
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].id == "msg_s"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Let me check."
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id == "toolu_7" and deltas[0].function == {"name": "get_weather", "arguments": ""}
    assert "".join((d.function or {}).get("arguments", "") for d in deltas) == '{"city": "Oslo"}'
    assert {d.index for d in deltas} == {0}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 30)
    assert info.first_byte_at is not None


async def test_stream_error_event_mid_way_raises(upstream: Upstream) -> None:
    upstream.sse(_events(
        START,
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hel"}}),
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ))
    got = []
    with pytest.raises(Overloaded) as ei:
        async for c in A.stream(ChatRequest(model="m", messages=[Message(role="user", content="x")], stream=True),
                                dep("anthropic", upstream.base_url), CallInfo()):
            got.append(c)
    assert len(got) == 2 and ei.value.deployment == "anthropic/claude-sonnet-4"


async def test_stream_without_message_stop_is_cut(upstream: Upstream) -> None:
    upstream.sse(_events(START, ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                         "delta": {"type": "text_delta", "text": "Hel"}})))
    with pytest.raises(UpstreamError, match="end marker"):
        async for _ in A.stream(ChatRequest(model="m", messages=[Message(role="user", content="x")], stream=True),
                                dep("anthropic", upstream.base_url), CallInfo()):
            pass


async def test_stream_n_gt_1_refused_with_fallback(upstream: Upstream) -> None:
    it = A.stream(ChatRequest(model="m", messages=[Message(role="user", content="x")], stream=True, n=2),
                  dep("anthropic", upstream.base_url), CallInfo()).__aiter__()
    with pytest.raises(BadRequest) as ei:
        await it.__anext__()
    assert ei.value.fallback is True and ei.value.param == "n"


@pytest.mark.parametrize(("status", "etype", "msg", "headers", "cls"), [
    (529, "overloaded_error", "Overloaded", {}, Overloaded),
    (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
     {"retry-after": "12", "anthropic-ratelimit-requests-remaining": "0",
      "anthropic-ratelimit-requests-reset": "2099-01-01T00:00:00Z"}, RateLimited),
    (400, "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum", {}, ContextTooLong),
    (400, "invalid_request_error", "messages: roles must alternate", {}, BadRequest),
    (401, "authentication_error", f"invalid x-api-key {KEY}", {}, AuthFailed),
    (500, "api_error", "Internal server error", {}, UpstreamError),
])
async def test_errors(upstream: Upstream, status: int, etype: str, msg: str, headers: dict[str, str],
                      cls: type) -> None:
    upstream.queue(Reply(status=status, headers=headers, body=json.dumps(
        {"type": "error", "error": {"type": etype, "message": msg}}).encode()))
    info = CallInfo()
    with pytest.raises(cls) as ei:
        await A.send(ChatRequest(model="m", messages=[Message(role="user", content="x")]),
                     dep("anthropic", upstream.base_url), info)
    assert ei.value.upstream_status == status and ei.value.deployment == "anthropic/claude-sonnet-4"
    assert KEY not in str(ei.value)
    if cls is RateLimited:
        assert ei.value.retry_after == 12.0
        assert info.ratelimit is not None and info.ratelimit.remaining_requests == 0
        assert info.ratelimit.reset_requests_s is not None and info.ratelimit.reset_requests_s > 1e6


async def test_overloaded_right_after_message_start_is_raised_before_any_chunk(upstream: Upstream) -> None:
    # Anthropic's usual mid-stream overload comes straight after message_start; nothing useful has
    # been yielded yet, so the error must surface on the first __anext__ (execution can fall back)
    upstream.sse(_events(START, ("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                       "message": "Overloaded"}})))
    it = A.stream(ChatRequest(model="m", messages=[Message(role="user", content="x")], stream=True),
                  dep("anthropic", upstream.base_url), CallInfo()).__aiter__()
    with pytest.raises(Overloaded):
        await it.__anext__()


async def test_stream_ending_on_a_filter_stop_before_content_raises(upstream: Upstream) -> None:
    upstream.sse(_events(START, ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "refusal"},
                                                   "usage": {"output_tokens": 0}}),
                         ("message_stop", {"type": "message_stop"})))
    it = A.stream(ChatRequest(model="m", messages=[Message(role="user", content="x")], stream=True),
                  dep("anthropic", upstream.base_url), CallInfo()).__aiter__()
    with pytest.raises(ContentFiltered):
        await it.__anext__()


async def test_n_greater_than_one_fails_as_one_error_when_a_call_fails(upstream: Upstream) -> None:
    upstream.json(message([{"type": "text", "text": "one"}]))
    upstream.queue(Reply(status=529, body=b'{"type":"error","error":{"type":"overloaded_error","message":"x"}}'))
    upstream.json(message([{"type": "text", "text": "three"}]))
    with pytest.raises(Overloaded):
        await A.send(ChatRequest(model="m", messages=[Message(role="user", content="x")], n=3),
                     dep("anthropic", upstream.base_url), CallInfo())
