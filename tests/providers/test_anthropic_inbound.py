"""The inbound Anthropic dialect: request decoding and validation, Message JSON, SSE events, errors."""

from __future__ import annotations

import json

import msgspec
import pytest

from tierroute.api.anthropic_inbound import (
    decode_messages_request,
    encode_message,
    error_body,
    error_status,
    stream_events,
)
from tierroute.errors import InvalidRequest, Overloaded, RateLimited, UpstreamError
from tierroute.types import (
    ChatChunk,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    ImagePart,
    ResponseMessage,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)


def body(**kw: object) -> bytes:
    doc: dict[str, object] = {"model": "claude-sonnet-4", "max_tokens": 100,
                              "messages": [{"role": "user", "content": "hi"}]}
    doc.update(kw)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def test_decode_full_request() -> None:
    req = decode_messages_request(body(
        system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Use SI units."}],
        messages=[
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "...", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "cat"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a cat"}]},
                {"type": "text", "text": "So?"}]},
        ],
        tools=[{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {
            "q": {"type": "string"}}}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        stop_sequences=["###"], temperature=0.2, top_p=0.9, top_k=5, stream=True,
        metadata={"user_id": "u-1"},
    ))
    assert req.model == "claude-sonnet-4" and req.max_tokens == 100 and req.stream
    assert req.stream_options is not None and req.stream_options.include_usage
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "tool", "user"]
    assert req.messages[0].content == "You are terse.\n\nUse SI units."
    parts = req.messages[1].content
    assert isinstance(parts, list) and isinstance(parts[0], TextPart)
    assert isinstance(parts[1], ImagePart) and parts[1].image_url.url == "data:image/png;base64,iVBOR"
    assert isinstance(parts[2], ImagePart) and parts[2].image_url.url == "https://x.test/a.jpg"
    a = req.messages[2]
    assert a.content == "Checking." and a.tool_calls is not None
    assert a.tool_calls[0].id == "toolu_1" and json.loads(a.tool_calls[0].function.arguments) == {"q": "cat"}
    assert req.messages[3].tool_call_id == "toolu_1" and req.messages[3].content == "a cat"
    assert req.messages[4].content == "So?"
    assert req.tools is not None and req.tools[0].function.parameters == {
        "type": "object", "properties": {"q": {"type": "string"}}}
    assert req.tool_choice == "required" and req.parallel_tool_calls is False
    assert req.stop == ["###"] and req.temperature == 0.2 and req.top_p == 0.9 and req.user == "u-1"


@pytest.mark.parametrize(("choice", "ours"), [
    ({"type": "auto"}, "auto"), ({"type": "none"}, "none"), ({"type": "any"}, "required"),
    ({"type": "tool", "name": "lookup"}, {"type": "function", "function": {"name": "lookup"}}),
])
def test_decode_tool_choice(choice: dict[str, str], ours: object) -> None:
    req = decode_messages_request(body(tools=[{"name": "lookup", "input_schema": {"type": "object"}}],
                                       tool_choice=choice))
    assert req.tool_choice == ours


@pytest.mark.parametrize(("doc", "param"), [
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
    ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "max_tokens": 5, "temperature": 1.5, "messages": [{"role": "user", "content": "x"}]},
     "temperature"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "file"}}]}]}, "messages[0].content[0].source"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {}}]}]}, "messages[0].content[0].type"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
      "tool_choice": {"type": "tool"}}, "tool_choice.name"),
])
def test_bad_input_names_the_field(doc: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as ei:
        decode_messages_request(json.dumps(doc).encode())
    assert ei.value.param == param and ei.value.status == 400
    assert param.split(".")[0].split("[")[0] in ei.value.message


def test_not_json() -> None:
    with pytest.raises(InvalidRequest):
        decode_messages_request(b"{nope")


def test_encode_message_with_text_and_tool_use() -> None:
    resp = ChatResponse(id="chatcmpl-abc", created=1, model="x", usage=Usage(prompt_tokens=7, completion_tokens=3,
                                                                              total_tokens=10),
                        choices=[Choice(index=0, finish_reason="tool_calls", message=ResponseMessage(
                            content="Let me look.", tool_calls=[ToolCall(id="call_1", function=FunctionCall(
                                name="lookup", arguments='{"q": "cat"}'))]))])
    doc = msgspec.json.decode(encode_message(resp, "claude-sonnet-4"))
    assert doc["type"] == "message" and doc["role"] == "assistant" and doc["id"] == "msg_abc"
    assert doc["model"] == "claude-sonnet-4" and doc["stop_reason"] == "tool_use"
    assert doc["content"] == [{"type": "text", "text": "Let me look."},
                              {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "cat"}}]
    assert doc["usage"] == {"input_tokens": 7, "output_tokens": 3}


def test_error_bodies() -> None:
    doc = msgspec.json.decode(error_body(Overloaded("busy", deployment="d")))
    assert doc == {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    assert error_status(Overloaded("busy")) == 529
    assert msgspec.json.decode(error_body(RateLimited("slow")))["error"]["type"] == "rate_limit_error"
    assert msgspec.json.decode(error_body(InvalidRequest("bad", param="x")))["error"]["type"] == \
        "invalid_request_error"


def _c(delta: Delta | None = None, finish: str | None = None, usage: Usage | None = None) -> ChatChunk:
    return ChatChunk(id="chatcmpl-s", created=1, model="m",
                     choices=[ChunkChoice(index=0, delta=delta or Delta(), finish_reason=finish)]  # type: ignore[arg-type]
                     if delta is not None or finish else [], usage=usage)


def _parse(events: list[bytes]) -> list[tuple[str, dict[str, object]]]:
    out = []
    for e in events:
        head, data = e.decode().strip().split("\n")
        out.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


async def _gen(chunks: list[ChatChunk], fail: Exception | None = None):  # type: ignore[no-untyped-def]
    for c in chunks:
        yield c
    if fail is not None:
        raise fail


async def test_stream_events_text_then_tool() -> None:
    chunks = [_c(Delta(role="assistant", content="")), _c(Delta(content="Hi ")), _c(Delta(content="there")),
              _c(Delta(tool_calls=[ToolCallDelta(index=0, id="call_1", type="function",
                                                 function={"name": "lookup", "arguments": ""})])),
              _c(Delta(tool_calls=[ToolCallDelta(index=0, function={"arguments": '{"q":'})])),
              _c(Delta(tool_calls=[ToolCallDelta(index=0, function={"arguments": '"cat"}'})])),
              _c(finish="tool_calls"), _c(usage=Usage(prompt_tokens=9, completion_tokens=4, total_tokens=13))]
    evs = _parse([e async for e in stream_events(_gen(chunks), "claude-x")])
    names = [n for n, _ in evs]
    assert names == ["message_start", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]
    assert evs[0][1]["message"]["model"] == "claude-x"  # type: ignore[index]
    assert evs[5][1]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {}}
    assert evs[5][1]["index"] == 1
    assert evs[9][1]["delta"]["stop_reason"] == "tool_use"  # type: ignore[index]
    assert evs[9][1]["usage"] == {"output_tokens": 4, "input_tokens": 9}


async def test_stream_events_error_mid_way_and_before_first() -> None:
    evs = _parse([e async for e in stream_events(_gen([_c(Delta(content="Hel"))], UpstreamError("cut")), "m")])
    assert [n for n, _ in evs][-1] == "error"
    assert evs[-1][1] == {"type": "error", "error": {"type": "api_error", "message": "cut"}}
    assert "message_stop" not in [n for n, _ in evs]
    with pytest.raises(Overloaded):
        await stream_events(_gen([], Overloaded("busy")), "m").__anext__()
