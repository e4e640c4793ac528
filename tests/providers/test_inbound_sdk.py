"""The official ``anthropic`` SDK against the inbound Messages dialect, over each real adapter and the simulator.

A Claude-based agent pointed at tierroute gets Anthropic-shaped answers whichever vendor served
them: text, streams, tool use round trips, and errors as Anthropic error objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest

from .conftest import dep
from .inbound_app import start

DIALECTS = ["openai", "anthropic", "gemini"]
TOOLS = [{"name": "get_weather", "description": "Current weather for a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


@pytest.fixture(params=DIALECTS)
async def client(request: pytest.FixtureRequest, sim: object) -> AsyncIterator[anthropic.AsyncAnthropic]:
    runner, url = await start(dep(request.param, sim.base_url))  # type: ignore[attr-defined]
    c = anthropic.AsyncAnthropic(base_url=url, api_key="client-key", max_retries=0)
    yield c
    await c.close()
    await runner.cleanup()


async def test_text_answer(client: anthropic.AsyncAnthropic) -> None:
    msg = await client.messages.create(model="claude-sonnet-4", max_tokens=200, system="Be brief.",
                                       messages=[{"role": "user", "content": "Explain routers"}])
    assert msg.type == "message" and msg.role == "assistant" and msg.model  # the model that answered
    assert msg.content[0].type == "text" and "answer to: Explain routers" in msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


async def test_streamed_answer_matches(client: anthropic.AsyncAnthropic) -> None:
    whole = await client.messages.create(model="claude-sonnet-4", max_tokens=200,
                                         messages=[{"role": "user", "content": "Explain routers"}])
    pieces = []
    async with client.messages.stream(model="claude-sonnet-4", max_tokens=200,
                                      messages=[{"role": "user", "content": "Explain routers"}]) as s:
        async for text in s.text_stream:
            pieces.append(text)
        final = await s.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == whole.content[0].text == final.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == whole.usage.output_tokens


async def test_tool_use_round_trip(client: anthropic.AsyncAnthropic) -> None:
    q = [{"role": "user", "content": "What is the weather in Oslo? Use get_weather."}]
    msg = await client.messages.create(model="claude-sonnet-4", max_tokens=200, tools=TOOLS, messages=q)
    assert msg.stop_reason == "tool_use"
    use = next(b for b in msg.content if b.type == "tool_use")
    assert use.name == "get_weather" and isinstance(use.input, dict) and "city" in use.input
    async with client.messages.stream(model="claude-sonnet-4", max_tokens=200, tools=TOOLS, messages=q) as s:
        streamed = await s.get_final_message()
    suse = next(b for b in streamed.content if b.type == "tool_use")
    assert suse.name == "get_weather" and suse.input == use.input and streamed.stop_reason == "tool_use"
    follow = await client.messages.create(model="claude-sonnet-4", max_tokens=200, tools=TOOLS, messages=[
        *q, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "5C, rain"}]}])
    assert follow.stop_reason == "end_turn" and follow.content[0].type == "text"


async def test_errors_arrive_as_anthropic_errors(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as ei:
        await client.messages.create(model="claude-sonnet-4", max_tokens=50,
                                     messages=[{"role": "user", "content": "hi [[sim:error=429]]"}])
    assert ei.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    with pytest.raises(anthropic.APIStatusError) as ei2:
        await client.messages.create(model="claude-sonnet-4", max_tokens=50,
                                     messages=[{"role": "user", "content": "hi [[sim:error=529]]"}])
    assert ei2.value.status_code == 529
    with pytest.raises(anthropic.BadRequestError) as ei3:
        await client.messages.create(model="claude-sonnet-4", max_tokens=0,
                                     messages=[{"role": "user", "content": "hi"}])
    assert "max_tokens" in str(ei3.value)


async def test_stream_broken_mid_way_ends_in_an_error_event(client: anthropic.AsyncAnthropic) -> None:
    got = []
    with pytest.raises(anthropic.APIError):
        async with client.messages.stream(model="claude-sonnet-4", max_tokens=300, messages=[
                {"role": "user", "content": "Explain routers [[sim:error=stream_cut]]"}]) as s:
            async for text in s.text_stream:
                got.append(text)
