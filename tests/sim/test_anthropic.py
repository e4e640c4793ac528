"""The Anthropic Messages dialect through the official ``anthropic`` SDK and raw SSE."""

from __future__ import annotations

import json
import math

import anthropic
import httpx
import pytest

from .conftest import KEY, ThreadedSim, sse_events

MODEL = "claude-sonnet-4-20250514"
MSGS = [{"role": "user", "content": "Explain how routers work"}]
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}  # fmt: skip
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}


def test_message_shape_and_headers(ant: anthropic.Anthropic) -> None:
    raw = ant.messages.with_raw_response.create(
        model=MODEL, max_tokens=200, messages=MSGS, system="Be brief."
    )
    m = raw.parse()
    assert m.type == "message" and m.role == "assistant" and m.id.startswith("msg_") and m.model == MODEL
    assert m.stop_reason == "end_turn" and m.stop_sequence is None
    assert m.content[0].type == "text" and m.content[0].text.startswith(
        f"[{MODEL}] answer to: Explain how routers"
    )
    assert m.usage.input_tokens == math.ceil(len("Be brief.\nExplain how routers work") / 4)
    assert m.usage.output_tokens == math.ceil(len(m.content[0].text) / 4)
    h = raw.headers
    assert (
        int(h["anthropic-ratelimit-requests-remaining"]) == int(h["anthropic-ratelimit-requests-limit"]) - 1
    )
    assert h["anthropic-ratelimit-tokens-reset"].endswith("Z") and h["request-id"].startswith("req_")


def test_system_as_blocks_counts_the_same(ant: anthropic.Anthropic) -> None:
    a = ant.messages.create(model=MODEL, max_tokens=200, messages=MSGS, system="Be brief.")
    b = ant.messages.create(
        model=MODEL, max_tokens=200, messages=MSGS, system=[{"type": "text", "text": "Be brief."}]
    )
    assert a.usage.input_tokens == b.usage.input_tokens and a.content[0].text == b.content[0].text


async def test_async_stream_matches_the_plain_answer(aant: anthropic.AsyncAnthropic) -> None:
    plain = await aant.messages.create(model=MODEL, max_tokens=300, messages=MSGS)
    async with aant.messages.stream(model=MODEL, max_tokens=300, messages=MSGS) as stream:
        deltas = [e.delta.text async for e in stream if e.type == "content_block_delta"]
        final = await stream.get_final_message()
    assert len(deltas) > 3 and "".join(deltas) == plain.content[0].text
    assert final.content[0].text == plain.content[0].text and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_raw_stream_events_in_anthropic_order(sim: ThreadedSim) -> None:
    body = {"model": MODEL, "max_tokens": 100, "messages": MSGS, "stream": True}
    r = httpx.post(sim.base_url + "/v1/messages", json=body, headers=HEADERS)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    for name, data in events:
        assert json.loads(data)["type"] == name  # the data repeats the event name, as Anthropic's does
    start = json.loads(events[0][1])["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["input_tokens"] > 0
    delta = json.loads(events[-2][1])
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_then_tool_result(ant: anthropic.Anthropic, stream: bool) -> None:
    msgs = [{"role": "user", "content": "What is the weather in Oslo? Ask get_weather."}]
    if stream:
        with ant.messages.stream(model=MODEL, max_tokens=200, messages=msgs, tools=[WEATHER]) as s:
            partials = [e.delta.partial_json for e in s if e.type == "content_block_delta"
                        and e.delta.type == "input_json_delta"]  # fmt: skip
            m = s.get_final_message()
        assert len(partials) > 1
    else:
        m = ant.messages.create(model=MODEL, max_tokens=200, messages=msgs, tools=[WEATHER])
    assert m.stop_reason == "tool_use"
    assert [b.type for b in m.content] == ["text", "tool_use"]  # Claude says what it is about to do
    use = m.content[1]
    assert use.id.startswith("toolu_") and use.name == "get_weather" and set(use.input) == {"city"}
    follow = [*msgs, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                            "content": "5 degrees and rain"}]}]  # fmt: skip
    m2 = ant.messages.create(model=MODEL, max_tokens=200, messages=follow, tools=[WEATHER])
    assert m2.stop_reason == "end_turn" and "5 degrees and rain" in m2.content[0].text


def test_forced_tool_choice_has_no_preamble(ant: anthropic.Anthropic) -> None:
    m = ant.messages.create(model=MODEL, max_tokens=200, messages=MSGS, tools=[WEATHER],
                            tool_choice={"type": "tool", "name": "get_weather"})  # fmt: skip
    assert [b.type for b in m.content] == ["tool_use"]
    m = ant.messages.create(
        model=MODEL, max_tokens=200, messages=MSGS, tools=[WEATHER], tool_choice={"type": "any"}
    )
    assert [b.type for b in m.content] == ["tool_use"]


def test_stop_reasons(ant: anthropic.Anthropic) -> None:
    m = ant.messages.create(model=MODEL, max_tokens=5, messages=MSGS)
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 5
    m = ant.messages.create(model=MODEL, max_tokens=200, messages=MSGS, stop_sequences=["routers"])
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == "routers"
    assert m.content[0].text == f"[{MODEL}] answer to: Explain how "
    m = ant.messages.create(
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "Go [[sim:long]]"}]
    )
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 50
    m = ant.messages.create(
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "x [[sim:error=content_filter]]"}]
    )
    assert m.stop_reason == "refusal" and m.content == []
    m = ant.messages.create(
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "x [[sim:empty]]"}]
    )
    assert m.stop_reason == "end_turn" and m.content == []


def test_images_base64_and_url(ant: anthropic.Anthropic) -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "text", "text": "What are these?"},
    ]
    m = ant.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": content}])
    assert m.usage.input_tokens == math.ceil(len("What are these?") / 4) + 2 * 85
    with pytest.raises(anthropic.BadRequestError) as ei:
        ant.messages.create(model="blind", max_tokens=100, messages=[{"role": "user", "content": content}])
    assert ei.value.body["error"]["type"] == "invalid_request_error"


def test_errors_in_anthropic_shape(http: httpx.Client) -> None:
    cases = [
        ({"model": MODEL, "messages": MSGS}, "max_tokens: Field required"),
        ({"model": MODEL, "max_tokens": 10}, "messages: Field required"),
        ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "tool", "content": "x"}]},
         "messages.0.role: Input should be 'user', 'assistant' or 'system'"),
        ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
         "Input tag 'video'"),
    ]  # fmt: skip
    for body, message in cases:
        r = http.post("/v1/messages", json=body, headers=HEADERS)
        assert r.status_code == 400
        data = r.json()
        assert data["type"] == "error" and data["error"]["type"] == "invalid_request_error"
        assert message in data["error"]["message"] and data["request_id"].startswith("req_")
    r = http.post("/v1/messages", json={"model": MODEL, "max_tokens": 10, "messages": MSGS},
                  headers={"anthropic-version": "2023-06-01"})  # fmt: skip
    assert r.status_code == 401 and r.json()["error"] == {"type": "authentication_error",
                                                          "message": "x-api-key header is required"}  # fmt: skip
    r = http.post(
        "/v1/messages", json={"model": MODEL, "max_tokens": 10, "messages": MSGS}, headers={"x-api-key": KEY}
    )
    assert r.status_code == 400 and r.json()["error"]["message"] == "anthropic-version: header is required"


def test_prompt_too_long(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as ei:
        ant.messages.create(
            model="tiny-ctx", max_tokens=10, messages=[{"role": "user", "content": "y" * 404}]
        )
    assert ei.value.body["error"]["message"] == "prompt is too long: 101 tokens > 50 maximum"


def test_count_tokens_and_models(ant: anthropic.Anthropic, http: httpx.Client) -> None:
    n = ant.messages.count_tokens(model=MODEL, messages=MSGS, system="Be brief.")
    assert n.input_tokens == math.ceil(len("Be brief.\nExplain how routers work") / 4)
    page = ant.models.list()
    assert "tiny-ctx" in [m.id for m in page.data] and page.data[0].type == "model"


def test_bearer_key_is_accepted(http: httpx.Client) -> None:
    r = http.post("/v1/messages", json={"model": MODEL, "max_tokens": 10, "messages": MSGS},
                  headers={"Authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01"})  # fmt: skip
    assert r.status_code == 200 and r.json()["type"] == "message"
