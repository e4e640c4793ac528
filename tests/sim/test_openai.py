"""The OpenAI dialect through the official ``openai`` SDK (sync and async, streaming and not)."""

from __future__ import annotations

import ast
import json
import math
import re

import httpx
import openai
import pytest
from pydantic import BaseModel

from .conftest import KEY, ThreadedSim

USER = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Explain how routers work"},
]
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}  # fmt: skip
PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def test_chat_completion_shape_and_headers(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    r = raw.parse()
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == "gpt-4o-mini"
    choice = r.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content.startswith("[gpt-4o-mini] answer to: Explain how routers work")
    text = "You are terse.\nExplain how routers work"
    assert r.usage.prompt_tokens == math.ceil(len(text) / 4)
    assert r.usage.completion_tokens == math.ceil(len(choice.message.content) / 4)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    h = raw.headers
    assert int(h["x-ratelimit-limit-requests"]) == int(h["x-ratelimit-remaining-requests"]) + 1
    assert (
        int(h["x-ratelimit-remaining-tokens"]) == int(h["x-ratelimit-limit-tokens"]) - r.usage.prompt_tokens
    )
    assert re.fullmatch(r"\d+(\.\d+)?s|\d+m\d+s", h["x-ratelimit-reset-requests"])
    assert h["x-request-id"].startswith("req_")


async def test_async_stream_with_usage_matches_the_plain_answer(aoai: openai.AsyncOpenAI) -> None:
    plain = await aoai.chat.completions.create(model="gpt-4o", messages=USER)
    stream = await aoai.chat.completions.create(model="gpt-4o", messages=USER, stream=True,
                                                stream_options={"include_usage": True})  # fmt: skip
    chunks = [c async for c in stream]
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == plain.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_raw_stream_ends_with_done(sim: ThreadedSim) -> None:
    body = {"model": "m", "messages": USER, "stream": True}
    with httpx.stream("POST", sim.base_url + "/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {KEY}"}) as r:  # fmt: skip
        assert r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    events = text.split("\n\n")
    assert events[-2] == "data: [DONE]" and events[-1] == ""
    assert all(e.startswith("data: ") for e in events[:-1])
    assert '"usage"' not in text  # without include_usage there is no usage key at all


def test_sync_stream(oai: openai.OpenAI) -> None:
    with oai.chat.completions.create(model="gpt-4o", messages=USER, stream=True) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text.startswith("[gpt-4o] answer to:")


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_and_the_answer_after_the_result(oai: openai.OpenAI, stream: bool) -> None:
    msgs = [{"role": "user", "content": "What is the weather in Oslo? Ask get_weather."}]
    if stream:
        chunks = list(
            oai.chat.completions.create(model="gpt-4o", messages=msgs, tools=[WEATHER], stream=True)
        )
        deltas = [t for c in chunks for t in (c.choices[0].delta.tool_calls or [])]
        assert deltas[0].id.startswith("call_") and deltas[0].function.name == "get_weather"
        assert len(deltas) > 2  # the arguments arrive in pieces
        call_id, args = deltas[0].id, "".join(d.function.arguments or "" for d in deltas)
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
    else:
        r = oai.chat.completions.create(model="gpt-4o", messages=msgs, tools=[WEATHER])
        assert r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.content is None
        call = r.choices[0].message.tool_calls[0]
        assert call.type == "function" and call.function.name == "get_weather"
        call_id, args = call.id, call.function.arguments
    assert set(json.loads(args)) == {"city"}
    follow = [*msgs,
              {"role": "assistant", "content": None, "tool_calls": [
                  {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": args}}]},
              {"role": "tool", "tool_call_id": call_id, "content": "5 degrees and rain"}]  # fmt: skip
    r2 = oai.chat.completions.create(model="gpt-4o", messages=follow, tools=[WEATHER])
    assert r2.choices[0].finish_reason == "stop" and "5 degrees and rain" in r2.choices[0].message.content


def test_tool_choice_named_and_none(oai: openai.OpenAI) -> None:
    other = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
    msgs = [{"role": "user", "content": "What is the weather in Oslo?"}]
    r = oai.chat.completions.create(model="m", messages=msgs, tools=[WEATHER, other],
                                    tool_choice={"type": "function", "function": {"name": "lookup"}})  # fmt: skip
    assert r.choices[0].message.tool_calls[0].function.name == "lookup"
    r = oai.chat.completions.create(model="m", messages=msgs, tools=[WEATHER], tool_choice="none")
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.tool_calls is None


class Person(BaseModel):
    name: str
    age: int
    tags: list[str]


def test_json_schema_through_the_sdk_parser(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.parse(model="gpt-4o", messages=[{"role": "user", "content": "Describe Ada"}],
                                   response_format=Person)  # fmt: skip
    assert isinstance(r.choices[0].message.parsed, Person)


def test_json_object_needs_the_word_json(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "Three colours as JSON"}],
                                    response_format={"type": "json_object"})  # fmt: skip
    assert isinstance(json.loads(r.choices[0].message.content), dict)
    with pytest.raises(openai.BadRequestError) as ei:
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "Three colours"}],
                                    response_format={"type": "json_object"})  # fmt: skip
    assert "must contain the word 'json'" in ei.value.message


def test_refusal_goes_in_refusal_under_json_schema(oai: openai.OpenAI) -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object", "properties": {}}},
    }
    r = oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "do it [[sim:refuse]]"}],
                                    response_format=fmt)  # fmt: skip
    assert r.choices[0].message.content is None
    assert r.choices[0].message.refusal == "I'm sorry, but I can't help with that."
    r = oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "do it [[sim:refuse]]"}])
    assert r.choices[0].message.content == "I'm sorry, but I can't help with that."


def test_images_counted_and_refused_by_a_blind_model(oai: openai.OpenAI) -> None:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
    assert r.usage.prompt_tokens == math.ceil(len("What is this?") / 4) + 85
    with pytest.raises(openai.BadRequestError) as ei:
        oai.chat.completions.create(model="blind", messages=[{"role": "user", "content": content}])
    assert ei.value.status_code == 400 and ei.value.body["type"] == "invalid_request_error"


def test_n_stop_max_tokens_and_seed(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="m", messages=USER, n=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert len({c.message.content for c in r.choices}) == 3
    r = oai.chat.completions.create(model="m", messages=USER, stop=["routers"])
    assert (
        r.choices[0].finish_reason == "stop" and r.choices[0].message.content == "[m] answer to: Explain how "
    )
    r = oai.chat.completions.create(model="m", messages=USER, max_completion_tokens=7)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 7
    r = oai.chat.completions.create(model="m", messages=USER, max_tokens=5)
    assert r.choices[0].finish_reason == "length" and len(r.choices[0].message.content) == 20
    a = oai.chat.completions.create(model="m", messages=USER, seed=1).choices[0].message.content
    b = oai.chat.completions.create(model="m", messages=USER, seed=2).choices[0].message.content
    assert (
        a != b
        and a == oai.chat.completions.create(model="m", messages=USER, seed=1).choices[0].message.content
    )


def test_code_answers_parse(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Implement binary search in Python"}]
    )
    block = re.search(r"```python\n(.*?)```", r.choices[0].message.content, re.S)
    assert block is not None
    ast.parse(block.group(1))


def test_context_length_error(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        oai.chat.completions.create(model="tiny-ctx", messages=[{"role": "user", "content": "x" * 400}])
    err = ei.value.body
    assert err["code"] == "context_length_exceeded" and err["param"] == "messages"
    assert err["message"].startswith("This model's maximum context length is 50 tokens. However, your messages "
                                     "resulted in 100 tokens.")  # fmt: skip
    with pytest.raises(openai.BadRequestError) as ei:
        oai.chat.completions.create(
            model="tiny-ctx", messages=[{"role": "user", "content": "x" * 40}], max_tokens=60
        )
    assert "you requested 70 tokens (10 in the messages, 60 in the completion)" in ei.value.body["message"]


def test_bad_requests_in_openai_shape(http: httpx.Client) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    cases = [
        ({"model": "m"}, "messages", "missing_required_parameter"),
        ({"model": "m", "messages": "hi"}, "messages", "invalid_type"),
        ({"model": "m", "messages": []}, "messages", "empty_array"),
        (
            {"model": "m", "messages": [{"role": "wizard", "content": "x"}]},
            "messages[0].role",
            "invalid_value",
        ),
        ({"model": "m", "messages": USER, "max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({"model": "m", "messages": USER, "stream_options": {"include_usage": True}}, "stream_options", None),
    ]
    for body, param, code in cases:
        r = http.post("/v1/chat/completions", json=body, headers=auth)
        assert r.status_code == 400, body
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"}
        assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", param, code)
    r = http.post("/v1/chat/completions", content=b"{not json", headers=auth)
    assert r.status_code == 400 and "could not parse the JSON body" in r.json()["error"]["message"]
    r = http.post("/v1/chat/completions", json={"messages": USER}, headers=auth)
    assert r.json()["error"]["message"] == "you must provide a model parameter"


def test_auth(http: httpx.Client) -> None:
    r = http.post("/v1/chat/completions", json={"model": "m", "messages": USER})
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and "didn't provide an API key" in err["message"]


async def test_wrong_key_with_a_key_list() -> None:
    from tierroute.sim.config import config_from_dict
    from tierroute.sim.server import start_background

    handle = await start_background(config_from_dict({"api_keys": ["sk-good"]}))
    try:
        async with openai.AsyncOpenAI(base_url=handle.base_url + "/v1", api_key="sk-bad", max_retries=0) as c:
            with pytest.raises(openai.AuthenticationError) as ei:
                await c.chat.completions.create(model="m", messages=USER)
            assert ei.value.code == "invalid_api_key"
        async with openai.AsyncOpenAI(
            base_url=handle.base_url + "/v1", api_key="sk-good", max_retries=0
        ) as c:
            assert (await c.chat.completions.create(model="m", messages=USER)).choices
    finally:
        await handle.close()


def test_embeddings(oai: openai.OpenAI) -> None:
    r = oai.embeddings.create(
        model="text-embedding-3-small", input=["red apple", "green pear"]
    )  # SDK: base64
    assert r.object == "list" and [d.index for d in r.data] == [0, 1]
    a, b = r.data[0].embedding, r.data[1].embedding
    assert len(a) == 1536 and abs(sum(x * x for x in a) - 1) < 1e-4 and a != b
    floats = oai.embeddings.create(model="text-embedding-3-small", input="red apple", encoding_format="float")
    assert max(abs(x - y) for x, y in zip(floats.data[0].embedding, a, strict=True)) < 1e-6
    assert r.usage.prompt_tokens == math.ceil(9 / 4) + math.ceil(10 / 4) == r.usage.total_tokens
    short = oai.embeddings.create(model="text-embedding-3-small", input="red apple", dimensions=256)
    assert len(short.data[0].embedding) == 256
    assert len(oai.embeddings.create(model="emb-small", input="x").data[0].embedding) == 64
    tokens = oai.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3]])
    assert tokens.usage.prompt_tokens == 3
    with pytest.raises(openai.BadRequestError):
        oai.embeddings.create(model="text-embedding-3-small", input="")


def test_models(oai: openai.OpenAI, sim: ThreadedSim) -> None:
    ids = [m.id for m in oai.models.list()]
    assert "tiny-ctx" in ids and "claude-*" not in ids
    assert oai.models.retrieve("anything").id == "anything"


def test_unknown_path_is_a_json_404(http: httpx.Client) -> None:
    r = http.post("/v1/completely/unknown", json={})
    assert (
        r.status_code == 404 and r.json()["error"]["message"] == "Invalid URL (POST /v1/completely/unknown)"
    )
