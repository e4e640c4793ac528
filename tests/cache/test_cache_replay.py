import json

from cache_helpers import answer
from openai.types.chat import ChatCompletionChunk

from tierroute.cache import replay_chunks
from tierroute.types import ChatResponse, Choice, FunctionCall, ResponseMessage, ToolCall, Usage, json_encoder


def sse(chunks) -> str:
    return "".join(f"data: {json_encoder.encode(c).decode()}\n\n" for c in chunks) + "data: [DONE]\n\n"


def parse_sse(body: str) -> list[ChatCompletionChunk]:
    events = [e for e in body.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    return [ChatCompletionChunk.model_validate(json.loads(e.removeprefix("data: "))) for e in events[:-1]]


def test_replayed_stream_is_valid_and_reassembles_the_answer():
    text = "Paris is the capital of France. " * 5
    resp = answer(text)
    parsed = parse_sse(sse(replay_chunks(resp, include_usage=True)))
    assert len(parsed) > 3
    assert parsed[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in parsed if c.choices) == text
    finals = [c for c in parsed if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop"
    assert parsed[-1].choices == [] and parsed[-1].usage.completion_tokens == 34
    assert {c.id for c in parsed} == {resp.id}


def test_replay_without_usage_and_with_tool_calls():
    resp = ChatResponse(id="x", created=1, model="m", usage=Usage(1, 2, 3), choices=[Choice(
        index=0, finish_reason="tool_calls", message=ResponseMessage(content=None, tool_calls=[
            ToolCall(id="call_1", function=FunctionCall(name="search", arguments='{"q": "paris"}'))]))])
    parsed = parse_sse(sse(replay_chunks(resp, include_usage=False)))
    assert all(c.usage is None for c in parsed)
    calls = [tc for c in parsed for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "search" and calls[0].function.arguments == '{"q": "paris"}'
    assert parsed[-1].choices[0].finish_reason == "tool_calls"
