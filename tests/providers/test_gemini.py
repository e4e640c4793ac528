"""The Gemini adapter against a scripted vendor: both translation directions, streams, errors, embeddings."""

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
    EmbeddingRequest,
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

G = get_adapter("gemini")
WEATHER = Tool(function=FunctionDef(name="get_weather", description="Weather", parameters={
    "type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": False,
    "required": ["city"]}))


def answer(parts: list[dict[str, object]], finish: str = "STOP", **extra: object) -> dict[str, object]:
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13},
            "modelVersion": "gemini-2.0-flash-001", "responseId": "resp-1", **extra}


def user(text: str = "x") -> list[Message]:
    return [Message(role="user", content=text)]


async def test_request_translation(upstream: Upstream) -> None:
    upstream.json(answer([{"text": "ok"}]))
    r = ChatRequest(model="m", messages=[
        Message(role="system", content="Be brief."),
        Message(role="user", content=[TextPart(text="Look"),
                                      ImagePart(image_url=ImageURL(url="data:image/jpeg;base64,/9j/AA==")),
                                      ImagePart(image_url=ImageURL(url="https://example.com/a.png"))]),
        Message(role="assistant", tool_calls=[ToolCall(id="call_1", function=FunctionCall(
            name="get_weather", arguments='{"city": "Oslo"}'))]),
        Message(role="tool", tool_call_id="call_1", content="5C"),
        Message(role="user", content="And now?"),
    ], tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=77, stop=["END"], temperature=0.5, top_p=0.8, seed=42, n=2,
        response_format=ResponseFormat(type="json_schema", json_schema=JSONSchemaSpec(
            name="s", schema={"type": "object", "properties": {"a": {"type": "string"}},
                              "additionalProperties": False})))
    await G.send(r, dep("gemini", upstream.base_url), CallInfo())
    seen = upstream.last
    assert seen.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert seen.headers["x-goog-api-key"] == KEY
    b = seen.body
    assert b["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in b["contents"]] == ["user", "model", "user"]
    assert b["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/AA=="}}
    assert b["contents"][0]["parts"][2] == {"fileData": {"mimeType": "image/png",
                                                         "fileUri": "https://example.com/a.png"}}
    assert b["contents"][1]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]
    assert b["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"content": "5C"}}}, {"text": "And now?"}]
    decl = b["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "get_weather" and "additionalProperties" not in decl["parameters"]
    assert b["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    gc = b["generationConfig"]
    assert gc["maxOutputTokens"] == 77 and gc["stopSequences"] == ["END"] and gc["temperature"] == 0.5
    assert gc["topP"] == 0.8 and gc["seed"] == 42 and gc["candidateCount"] == 2
    assert gc["responseMimeType"] == "application/json"
    assert gc["responseSchema"] == {"type": "object", "properties": {"a": {"type": "string"}}}


async def test_response_translation(upstream: Upstream) -> None:
    upstream.json(answer([{"text": "thinking...", "thought": True}, {"text": "Calling."},
                          {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]))
    r = await G.send(ChatRequest(model="m", messages=user(), tools=[WEATHER]), dep("gemini", upstream.base_url),
                     CallInfo())
    ch = r.choices[0]
    assert ch.message.content == "Calling." and ch.finish_reason == "tool_calls"
    assert ch.message.tool_calls is not None
    assert ch.message.tool_calls[0].function.name == "get_weather"
    assert json.loads(ch.message.tool_calls[0].function.arguments) == {"city": "Oslo"}
    assert ch.message.tool_calls[0].id.startswith("call_")
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (9, 4, 13)
    assert r.model == "gemini-2.0-flash-001" and r.id == "resp-1"
    for raw, finish in [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
                        ("OTHER", "stop"), ("STOP", "stop")]:
        upstream.json(answer([{"text": "t"}], finish=raw))
        r = await G.send(ChatRequest(model="m", messages=user()), dep("gemini", upstream.base_url), CallInfo())
        assert r.choices[0].finish_reason == finish, raw


async def test_blocked_prompt_raises_content_filtered(upstream: Upstream) -> None:
    upstream.json({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}})
    with pytest.raises(ContentFiltered):
        await G.send(ChatRequest(model="m", messages=user()), dep("gemini", upstream.base_url), CallInfo())


async def test_stream_text_and_tool_call(upstream: Upstream) -> None:
    upstream.sse([
        sse_data({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
                  "modelVersion": "gemini-2.0-flash-001"}),
        sse_data({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "index": 0}]}),
        sse_data({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]}, "finishReason": "STOP",
            "index": 0}], "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 6,
                                            "totalTokenCount": 15}}),
    ])
    chunks = [c async for c in G.stream(ChatRequest(model="m", messages=user(), stream=True, tools=[WEATHER]),
                                        dep("gemini", upstream.base_url), CallInfo())]
    assert upstream.last.path.endswith(":streamGenerateContent") and upstream.last.query == "alt=sse"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    tc = chunks[2].choices[0].delta.tool_calls
    assert tc is not None and tc[0].index == 0 and tc[0].function == {"name": "get_weather",
                                                                      "arguments": '{"city":"Oslo"}'}
    assert chunks[2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15


async def test_stream_ending_without_finish_reason_is_cut(upstream: Upstream) -> None:
    upstream.sse([sse_data({"candidates": [{"content": {"parts": [{"text": "Hel"}]}, "index": 0}]}), b"<<CUT>>"])
    with pytest.raises(UpstreamError):
        async for _ in G.stream(ChatRequest(model="m", messages=user(), stream=True),
                                dep("gemini", upstream.base_url), CallInfo()):
            pass


@pytest.mark.parametrize(("status", "gstatus", "msg", "details", "cls"), [
    (429, "RESOURCE_EXHAUSTED", "Quota exceeded", [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                                    "retryDelay": "31s"}], RateLimited),
    (400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed "
                              "(1048576).", None, ContextTooLong),
    (400, "INVALID_ARGUMENT", "Invalid JSON payload received.", None, BadRequest),
    (403, "PERMISSION_DENIED", "API key not valid", None, AuthFailed),
    (503, "UNAVAILABLE", "The model is overloaded.", None, Overloaded),
    (500, "INTERNAL", "An internal error has occurred.", None, UpstreamError),
])
async def test_errors(upstream: Upstream, status: int, gstatus: str, msg: str, details: object,
                      cls: type) -> None:
    err: dict[str, object] = {"code": status, "message": msg, "status": gstatus}
    if details:
        err["details"] = details
    upstream.queue(Reply(status=status, body=json.dumps({"error": err}).encode()))
    with pytest.raises(cls) as ei:
        await G.send(ChatRequest(model="m", messages=user()), dep("gemini", upstream.base_url), CallInfo())
    assert ei.value.upstream_status == status and ei.value.deployment == "google/gemini-2.0-flash"
    if cls is RateLimited:
        assert ei.value.retry_after == 31.0


async def test_embeddings(upstream: Upstream) -> None:
    upstream.json({"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]})
    d = dep("gemini", upstream.base_url, upstream_model="text-embedding-004")
    r = await G.embed(EmbeddingRequest(model="e", input=["hello world", "bye"], dimensions=2), d, CallInfo())
    assert upstream.last.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert upstream.last.body["requests"][0] == {"model": "models/text-embedding-004", "content": {
        "parts": [{"text": "hello world"}]}, "outputDimensionality": 2}
    assert [e.embedding for e in r.data] == [[0.1, 0.2], [0.3, 0.4]] and r.usage.prompt_tokens > 0
