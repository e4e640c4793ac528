"""Each adapter against the simulator speaking its dialect: answers, streams, tools, faults."""

from __future__ import annotations

import json

import pytest

from tierroute.errors import (
    AuthFailed,
    ContentFiltered,
    ContextTooLong,
    Overloaded,
    ProviderError,
    RateLimited,
    Timeout,
    UpstreamError,
)
from tierroute.providers import get_adapter
from tierroute.types import (
    CallInfo,
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
    FunctionDef,
    ImagePart,
    ImageURL,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
)

from .conftest import KEY, dep

DIALECTS = ["openai", "anthropic", "gemini"]
WEATHER = Tool(function=FunctionDef(name="get_weather", description="Current weather for a city", parameters={
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}))
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
         "60e6kgAAAABJRU5ErkJggg==")


def chat(text: str, **kw: object) -> ChatRequest:
    return ChatRequest(model="m", messages=[Message(role="system", content="You are concise."),
                                            Message(role="user", content=text)], **kw)  # type: ignore[arg-type]


async def collect(dialect: str, req: ChatRequest, **depkw: object) -> list[ChatChunk]:
    d = dep(dialect, _SIM_URL[0], **depkw)  # type: ignore[arg-type]
    return [c async for c in get_adapter(dialect).stream(req, d, CallInfo())]


_SIM_URL: list[str] = [""]


@pytest.fixture(autouse=True)
def _sim_url(sim: object) -> None:
    _SIM_URL[0] = sim.base_url  # type: ignore[attr-defined]


def text_of(chunks: list[ChatChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_answer_and_the_same_answer_streamed(dialect: str) -> None:
    info = CallInfo()
    r = await get_adapter(dialect).send(chat("Explain routers"), dep(dialect, _SIM_URL[0]), info)
    text = r.choices[0].message.content or ""
    assert "answer to: Explain routers" in text
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert info.status == 200 and info.first_byte_at is not None
    chunks = await collect(dialect, chat("Explain routers", stream=True))
    assert text_of(chunks) == text  # the simulator is deterministic: same prompt, same words
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (r.usage.prompt_tokens,
                                                                         r.usage.completion_tokens)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_tool_call_then_tool_result(dialect: str) -> None:
    a, d = get_adapter(dialect), dep(dialect, _SIM_URL[0])
    req = chat("What is the weather in Oslo? Use get_weather.", tools=[WEATHER])
    r = await a.send(req, d, CallInfo())
    ch = r.choices[0]
    assert ch.finish_reason == "tool_calls" and ch.message.tool_calls
    call = ch.message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    # the same call, streamed: arguments arrive in pieces and add up to the same JSON
    chunks = await collect(dialect, chat("What is the weather in Oslo? Use get_weather.", tools=[WEATHER], stream=True))
    deltas = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and (deltas[0].function or {}).get("name") == "get_weather"
    args = "".join((t.function or {}).get("arguments", "") for t in deltas)
    assert json.loads(args) == json.loads(call.function.arguments)
    # answer the call: the model now replies in text
    follow = ChatRequest(model="m", tools=[WEATHER], messages=[
        *req.messages, Message(role="assistant", content=ch.message.content, tool_calls=ch.message.tool_calls),
        Message(role="tool", tool_call_id=call.id, content="5 degrees and rain")])
    r2 = await a.send(follow, d, CallInfo())
    assert r2.choices[0].finish_reason == "stop" and r2.choices[0].message.content


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_limits_stop_n_json_and_images(dialect: str) -> None:
    a, d = get_adapter(dialect), dep(dialect, _SIM_URL[0])
    r = await a.send(chat("Explain routers in depth", max_tokens=5), d, CallInfo())
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens <= 5
    full = (await a.send(chat("Explain routers"), d, CallInfo())).choices[0].message.content or ""
    r = await a.send(chat("Explain routers", stop=["routers"]), d, CallInfo())
    assert r.choices[0].finish_reason == "stop"
    assert (r.choices[0].message.content or "") == full[: full.index("routers")]
    r = await a.send(chat("Explain routers", n=2), d, CallInfo())
    assert [c.index for c in r.choices] == [0, 1]
    r = await a.send(chat("List three colours as JSON", response_format=ResponseFormat(type="json_object")), d,
                     CallInfo())
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)
    img = ChatRequest(model="m", messages=[Message(role="user", content=[
        TextPart(text="What is this?"), ImagePart(image_url=ImageURL(url=PIXEL))])])
    plain = ChatRequest(model="m", messages=[Message(role="user", content="What is this?")])
    with_img = (await a.send(img, d, CallInfo())).usage.prompt_tokens
    without = (await a.send(plain, d, CallInfo())).usage.prompt_tokens
    assert with_img > without  # the image reached the vendor and was counted


ERRORS = [("429", RateLimited), ("529", Overloaded), ("503", Overloaded), ("500", UpstreamError),
          ("malformed", UpstreamError), ("context_length", ContextTooLong), ("content_filter", ContentFiltered)]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("kind", "cls"), ERRORS)
async def test_faults_map_to_errors(dialect: str, kind: str, cls: type[ProviderError]) -> None:
    d = dep(dialect, _SIM_URL[0])
    info = CallInfo()
    with pytest.raises(cls) as ei:
        await get_adapter(dialect).send(chat(f"hello [[sim:error={kind}]]"), d, info)
    err = ei.value
    assert err.deployment == d.id and err.upstream_status == info.status and info.status is not None
    assert KEY not in str(err) and KEY not in repr(err.__dict__)
    if cls is RateLimited:
        assert err.retry_after is not None and err.retry_after > 0  # type: ignore[attr-defined]
    # streamed, the same faults are raised too: before the first chunk, or (a body broken on
    # purpose) mid-way, never as a clean end
    with pytest.raises(cls):
        async for _ in get_adapter(dialect).stream(chat(f"hello [[sim:error={kind}]]", stream=True), d, CallInfo()):
            assert kind == "malformed", "only a broken body may yield before failing"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", ["stream_cut", "stream_error"])
async def test_stream_broken_mid_way_raises(dialect: str, kind: str) -> None:
    got: list[ChatChunk] = []
    with pytest.raises(ProviderError) as ei:
        async for c in get_adapter(dialect).stream(chat(f"Explain routers [[sim:error={kind}]]", stream=True),
                                                   dep(dialect, _SIM_URL[0]), CallInfo()):
            got.append(c)
    assert isinstance(ei.value, UpstreamError | Overloaded)
    # whatever came through was a prefix of the real answer, never a finished one
    full = (await get_adapter(dialect).send(chat("Explain routers"), dep(dialect, _SIM_URL[0]), CallInfo()))
    assert (full.choices[0].message.content or "").startswith(text_of(got))
    assert not any(c.choices and c.choices[0].finish_reason for c in got)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_timeout_and_wrong_key(dialect: str) -> None:
    with pytest.raises(Timeout):
        await get_adapter(dialect).send(chat("hi [[sim:error=timeout]]"), dep(dialect, _SIM_URL[0], timeout_s=0.3),
                                        CallInfo())
    wrong = "sk-wrong-0000000000000000000000"
    with pytest.raises(AuthFailed) as ei:
        await get_adapter(dialect).send(chat("hi"), dep(dialect, _SIM_URL[0], api_key=wrong), CallInfo())
    assert wrong not in str(ei.value)


@pytest.mark.parametrize(("dialect", "model"), [("openai", "text-embedding-3-small"),
                                                ("gemini", "text-embedding-004")])
async def test_embeddings(dialect: str, model: str) -> None:
    d = dep(dialect, _SIM_URL[0], upstream_model=model)
    r = await get_adapter(dialect).embed(EmbeddingRequest(model="e", input=["red apple", "green pear"]), d,
                                         CallInfo())
    assert len(r.data) == 2 and len(r.data[0].embedding) > 10 and r.data[0].embedding != r.data[1].embedding


@pytest.mark.parametrize("dialect", ["openai", "gemini"])
async def test_streamed_n_choices(dialect: str) -> None:
    chunks = await collect(dialect, chat("Explain routers", n=2, stream=True))
    by_index: dict[int, str] = {}
    finished = set()
    for c in chunks:
        for ch in c.choices:
            by_index[ch.index] = by_index.get(ch.index, "") + (ch.delta.content or "")
            if ch.finish_reason:
                finished.add(ch.index)
    assert set(by_index) == {0, 1} and finished == {0, 1} and all(by_index.values())


def test_unknown_dialect_is_named() -> None:
    with pytest.raises(KeyError, match="known: openai, anthropic, gemini"):
        get_adapter("cohere")
