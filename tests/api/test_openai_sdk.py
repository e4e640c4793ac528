"""The official OpenAI SDK against the gateway (a `tierroute serve` process) over the simulator."""

from __future__ import annotations

import json

import openai
import pytest

from gateway_process import MASTER_KEY, GatewayProcess


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)


@pytest.fixture(scope="module")
def aclient(gateway: GatewayProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize(("model", "answered_by", "provider"), [
    ("gpt-4o", "gpt-4o", "openai"),
    ("sonnet", "claude-sonnet-4", "anthropic"),        # alias, Anthropic dialect
    ("gemini-2.0-flash", "gemini-2.0-flash", "gemini"),  # Gemini dialect
    ("deepseek-v3", "deepseek-v3", "openrouter"),
])
def test_sync_completion_names_who_answered(client: openai.OpenAI, model: str, answered_by: str,
                                            provider: str) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "system", "content": "Be brief."}, *ask("What is a monad?")])
    r = raw.parse()
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert raw.headers["x-tierroute-model"] == answered_by
    assert raw.headers["x-tierroute-provider"] == provider
    assert raw.headers["x-tierroute-route"]
    assert raw.headers["x-tierroute-attempts"] == "1"


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4", "gemini-2.0-flash"])
async def test_async_stream_with_usage(aclient: openai.AsyncOpenAI, model: str) -> None:
    stream = await aclient.chat.completions.create(
        model=model, messages=ask("Explain recursion in two sentences."), stream=True,
        stream_options={"include_usage": True})
    text, finish, usage = [], None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == []
        for c in chunk.choices:
            text.append(c.delta.content or "")
            finish = c.finish_reason or finish
    assert "".join(text)
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


def test_stream_without_include_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=ask("hi"), stream=True))
    assert chunks and all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4", "gemini-2.0-flash"])
def test_tool_call_round_trip(client: openai.OpenAI, model: str) -> None:
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    r = client.chat.completions.create(model=model, messages=ask("What is the weather in Paris?"), tools=tools,
                                       tool_choice="required")
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    json.loads(call.function.arguments)
    follow = client.chat.completions.create(model=model, tools=tools, messages=[
        *ask("What is the weather in Paris?"),
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'}])
    assert follow.choices[0].message.content


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4", "gemini-2.0-flash"])
def test_json_mode_and_schema(client: openai.OpenAI, model: str) -> None:
    r = client.chat.completions.create(model=model, messages=ask("Give me a user as JSON."),
                                       response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    r = client.chat.completions.create(model=model, messages=ask("A user."), response_format={
        "type": "json_schema", "json_schema": {"name": "user", "schema": schema}})
    data = json.loads(r.choices[0].message.content)
    assert set(data) >= {"name", "age"}


def test_image_to_vision_model(client: openai.OpenAI) -> None:
    png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in this image?"}, {"type": "image_url", "image_url": {"url": png}}]}])
    model = raw.headers["x-tierroute-model"]
    assert model in ("llama-3.2-vision", "gemini-2.0-flash", "gpt-4o", "gpt-4.1", "claude-sonnet-4",
                     "claude-opus-4")
    assert raw.parse().choices[0].message.content


def test_n_stop_and_limits(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-4o", messages=ask("Name a colour."), n=2, seed=7,
                                       temperature=0.5, top_p=0.9, user="u-1")
    assert [c.index for c in r.choices] == [0, 1]
    r = client.chat.completions.create(model="claude-sonnet-4", messages=ask("Tell a long story [[sim:long]]"),
                                       max_completion_tokens=5)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens <= 5


def test_tier_and_hints(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="standard", messages=ask("hello"))
    assert raw.headers["x-tierroute-model"] in ("deepseek-v3", "gemini-2.0-flash", "qwen-2.5-coder", "deepseek-r1")
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=ask("Document this function: def f(x): return x * 2"),
        extra_headers={"X-Tierroute-Task": "documentation", "X-Tierroute-Complexity": "low"})
    doc_model = raw.headers["x-tierroute-model"]
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=ask("Design the architecture of a multi-region payment system."),
        extra_body={"metadata": {"task": "architecture", "complexity": 0.95}})
    assert raw.headers["x-tierroute-model"] == "claude-opus-4"
    assert doc_model != "claude-opus-4"


def test_embeddings_and_models(client: openai.OpenAI) -> None:
    e = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(e.data) == 2 and len(e.data[0].embedding) > 0
    ids = {m.id for m in client.models.list()}
    assert {"auto", "premium", "standard", "specialist", "claude-opus-4", "sonnet"} <= ids


def test_wire_shape_matches_openai(gateway: GatewayProcess) -> None:
    """The raw JSON, not just what a lenient SDK accepts: the fields OpenAI always sends are there."""
    import httpx

    body = httpx.post(gateway.url + "/v1/chat/completions", headers=gateway.headers(), timeout=30,
                      json={"model": "gpt-4o", "messages": ask("hello (wire shape)")}).json()
    assert body["object"] == "chat.completion" and body["id"] and isinstance(body["created"], int)
    choice = body["choices"][0]
    assert set(choice) >= {"index", "message", "finish_reason", "logprobs"}
    assert choice["message"]["role"] == "assistant" and "refusal" in choice["message"]
    assert set(body["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}
