"""Claude-based agents: the official Anthropic SDK pointed at the gateway's /v1/messages."""

from __future__ import annotations

import anthropic
import pytest

from gateway_process import MASTER_KEY, GatewayProcess


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)


@pytest.mark.parametrize("model", ["claude-sonnet-4", "gpt-4o", "auto"])
def test_messages_create(client: anthropic.Anthropic, model: str) -> None:
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=200, system="Be brief.",
        messages=[{"role": "user", "content": "What is a closure?"}])
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert raw.headers["x-tierroute-model"]


def test_messages_stream(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="claude-sonnet-4", max_tokens=300,
                                messages=[{"role": "user", "content": "Explain TCP slow start."}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_messages_tool_use(client: anthropic.Anthropic) -> None:
    msg = client.messages.create(
        model="claude-sonnet-4", max_tokens=200, tool_choice={"type": "any"},
        tools=[{"name": "lookup", "description": "Look a word up",
                "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}}}],
        messages=[{"role": "user", "content": "Look up 'gateway'."}])
    assert msg.stop_reason == "tool_use"
    block = next(b for b in msg.content if b.type == "tool_use")
    assert block.name == "lookup" and isinstance(block.input, dict)


def test_errors_in_anthropic_shape(client: anthropic.Anthropic, gateway: GatewayProcess) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    bad = anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="claude-sonnet-4", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=[])
