"""The inbound Anthropic dialect: request decoding and validation, Message JSON, SSE events, errors."""

from __future__ import annotations

import json

import msgspec
import pytest

from tierroute.api.anthropic_inbound import (
    encode_message,
    error_body,
    error_status,
    stream_events,
)
from tierroute.api.anthropic_request import decode_messages
from tierroute.api.inbound import parse_object
from tierroute.errors import InvalidRequest, Overloaded, RateLimited, UpstreamError
from tierroute.types import (
    ChatChunk,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    ImagePart,
    OpaquePart,
    PromptTokensDetails,
    ResponseMessage,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)


def decode_messages_request(raw: bytes):  # type: ignore[no-untyped-def]
    return decode_messages(json.loads(raw))[0]


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
    sysparts = req.messages[0].content
    assert isinstance(sysparts, list) and [p.text for p in sysparts] == ["You are terse.", "Use SI units."]
    assert sysparts[0].cache_control == {"type": "ephemeral"} and sysparts[1].cache_control is msgspec.UNSET
    parts = req.messages[1].content
    assert isinstance(parts, list) and isinstance(parts[0], TextPart)
    assert isinstance(parts[1], ImagePart) and parts[1].image_url.url == "data:image/png;base64,iVBOR"
    assert isinstance(parts[2], ImagePart) and parts[2].image_url.url == "https://x.test/a.jpg"
    a = req.messages[2]
    assert isinstance(a.content, list) and a.tool_calls is not None
    thought, text = a.content
    assert isinstance(thought, ThinkingPart) and thought.signature == "sig" and thought.origin == "anthropic"
    assert isinstance(text, TextPart) and text.text == "Checking."
    assert a.tool_calls[0].id == "toolu_1" and json.loads(a.tool_calls[0].function.arguments) == {"q": "cat"}
    assert req.messages[3].tool_call_id == "toolu_1" and req.messages[3].content == "a cat"
    assert req.messages[4].content == "So?"
    assert req.tools is not None and req.tools[0].function.parameters == {
        "type": "object", "properties": {"q": {"type": "string"}}}
    assert req.tool_choice == "required" and req.parallel_tool_calls is False
    assert req.stop == ["###"] and req.temperature == 0.2 and req.top_p == 0.9 and req.user == "u-1"
    assert req.top_k == 5


def test_decode_current_schema_of_claude_code() -> None:
    """System turns inside messages, adaptive thinking, effort, context management, a document block and a
    server tool: all accepted; what only Anthropic can carry is listed for X-Tierroute-Dropped."""
    doc = json.loads(body(
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
                                               {"type": "document", "source": {"type": "text", "data": "d"}}]},
                  {"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "again"}],
        thinking={"type": "adaptive"}, output_config={"effort": "high"},
        context_management={"edits": [{"type": "clear_thinking_20251015"}]}, max_tokens=128000,
        tools=[{"type": "web_search_20250305", "name": "web_search"}, {"name": "Bash", "input_schema": {}}],
        metadata={"user_id": "user_abc_account_x_session_0199a1b2-c3d4-e5f6-0718-293a4b5c6d7e"}))
    req, only = decode_messages(doc)
    assert [m.role for m in req.messages] == ["user", "system", "user"]
    first = req.messages[0].content
    assert isinstance(first, list) and isinstance(first[1], OpaquePart) and first[1].kind == "document"
    assert first[1].data == doc["messages"][0]["content"][1]
    assert req.reasoning is not msgspec.UNSET and req.reasoning.mode == "adaptive" and req.reasoning.effort == "high"
    assert req.max_tokens == 128000 and [t.function.name for t in req.tools or ()] == ["Bash"]
    assert req.session == "0199a1b2-c3d4-e5f6-0718-293a4b5c6d7e"
    assert only == ["context_management", "tools.web_search (web_search_20250305)"]


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
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "max_tokens": 5, "temperature": 1.5, "messages": [{"role": "user", "content": "x"}]},
     "temperature"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "file"}}]}]}, "messages[0].content[0].source"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"text": "no type"}]}]},
     "messages[0].content[0].type"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "web_search_20250305"}]}, "tools[0].name"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
      "tool_choice": {"type": "tool"}}, "tool_choice.name"),
])
def test_bad_input_names_the_field(doc: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as ei:
        decode_messages_request(json.dumps(doc).encode())
    assert ei.value.param == param and ei.value.status == 400
    assert param.split(".")[0].split("[")[0] in ei.value.message


def test_not_json() -> None:
    with pytest.raises(InvalidRequest) as ei:
        parse_object(b"{nope")
    assert ei.value.code == "invalid_json"


def test_encode_message_with_text_and_tool_use() -> None:
    resp = ChatResponse(id="chatcmpl-abc", created=1, model="x", usage=Usage(prompt_tokens=7, completion_tokens=3,
                                                                              total_tokens=10),
                        choices=[Choice(index=0, finish_reason="tool_calls", message=ResponseMessage(
                            content="Let me look.", tool_calls=[ToolCall(id="call_1", function=FunctionCall(
                                name="lookup", arguments='{"q": "cat"}'))]))])
    doc = msgspec.json.decode(encode_message(resp))
    assert doc["type"] == "message" and doc["role"] == "assistant" and doc["id"] == "msg_abc"
    assert doc["model"] == "x" and doc["stop_reason"] == "tool_use"  # the model that answered
    assert doc["content"] == [{"type": "text", "text": "Let me look."},
                              {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "cat"}}]
    assert doc["usage"] == {"input_tokens": 7, "output_tokens": 3, "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 0}


def test_encode_message_cache_usage_stop_sequence_and_thinking() -> None:
    resp = ChatResponse(id="msg_1", created=1, model="claude-sonnet-4", stop_sequence="###",
                        usage=Usage(prompt_tokens=1000, completion_tokens=5, total_tokens=1005,
                                    prompt_tokens_details=PromptTokensDetails(cached_tokens=800, cache_write_tokens=150)),
                        choices=[Choice(index=0, finish_reason="stop", message=ResponseMessage(
                            content="ok", reasoning=[ThinkingPart(thinking="hm", signature="s", origin="anthropic"),
                                                     ThinkingPart(thinking="other vendor", origin="openai")]))])
    doc = msgspec.json.decode(encode_message(resp))
    assert doc["usage"] == {"input_tokens": 50, "output_tokens": 5, "cache_creation_input_tokens": 150,
                            "cache_read_input_tokens": 800}
    assert doc["stop_reason"] == "stop_sequence" and doc["stop_sequence"] == "###"
    assert doc["content"] == [{"type": "thinking", "thinking": "hm", "signature": "s"}, {"type": "text", "text": "ok"}]


def test_encode_message_forwarded_is_the_vendors_bytes() -> None:
    raw = b'{"id":"msg_v","type":"message","future_field":1}'
    resp = ChatResponse(id="msg_v", created=1, model="m", usage=Usage(), choices=[], raw=raw)
    assert encode_message(resp) == raw


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
    evs = _parse([e async for e in stream_events(_gen(chunks))])
    names = [n for n, _ in evs]
    assert names == ["message_start", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]
    assert evs[0][1]["message"]["model"] == "m"  # type: ignore[index]  # the model that answered
    assert evs[5][1]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {}}
    assert evs[5][1]["index"] == 1
    assert evs[9][1]["delta"]["stop_reason"] == "tool_use"  # type: ignore[index]
    assert evs[9][1]["usage"] == {"output_tokens": 4, "input_tokens": 9, "cache_creation_input_tokens": 0,
                                  "cache_read_input_tokens": 0}


async def test_stream_events_error_mid_way_and_before_first() -> None:
    evs = _parse([e async for e in stream_events(_gen([_c(Delta(content="Hel"))], UpstreamError("cut")))])
    assert [n for n, _ in evs][-1] == "error"
    assert evs[-1][1] == {"type": "error", "error": {"type": "api_error", "message": "cut"}}
    assert "message_stop" not in [n for n, _ in evs]
    with pytest.raises(Overloaded):
        await stream_events(_gen([], Overloaded("busy"))).__anext__()
