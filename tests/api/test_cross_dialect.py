"""Translation: a request answered by a model of another dialect keeps its tool loop working in the
caller's dialect, carries thinking / reasoning and cache markers where the target takes them, and names
in X-Tierroute-Dropped whatever could not be carried. The simulator's record of each upstream request
shows what was actually sent."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest
from e2e_helpers import CLIENT_KEY, dropped, last_to, module_stack, recorded

from gateway_process import GatewayProcess, SimThread

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
                    "parameters": SCHEMA}]
CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                "parameters": SCHEMA}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Weather for a city", "input_schema": SCHEMA}]
CALL = 'What is the weather in Paris? [[sim:call:get_weather {"city":"Paris"}]]'
EPHEMERAL = {"type": "ephemeral"}


env, sim, gw = module_stack()


@pytest.fixture(scope="module")
def oai(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=CLIENT_KEY, max_retries=0)


@pytest.fixture(scope="module")
def claude(gw: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=CLIENT_KEY, max_retries=0)


def markers(node: Any) -> int:
    if isinstance(node, dict):
        return ("cache_control" in node) + sum(markers(v) for k, v in node.items() if k != "cache_control")
    if isinstance(node, list):
        return sum(markers(v) for v in node)
    return 0


def assert_thinking_continues(body: dict[str, Any]) -> None:
    """Anthropic refuses a tool-use continuation with thinking on whose last assistant turn does not
    start with the earlier thinking block ("When `thinking` is enabled, a final `assistant` message must
    start with a thinking block"): either the block (with its signature) is replayed, or thinking is off."""
    thinking = body.get("thinking")
    if not thinking or thinking.get("type") == "disabled":
        return
    last_assistant = [m for m in body["messages"] if m["role"] == "assistant"][-1]
    content = last_assistant["content"]
    first = content[0] if isinstance(content, list) and content else {}
    assert first.get("type") in ("thinking", "redacted_thinking"), (
        f"thinking is on but the assistant tool_use turn starts with {first.get('type')!r}: {last_assistant}")
    assert first.get("signature") or first.get("data")


# ------------------------------------------------------------------------- Responses in

def test_responses_to_anthropic_with_tools_and_reasoning(sim: SimThread, oai: openai.OpenAI) -> None:
    raw = oai.responses.with_raw_response.create(
        model="claude-sonnet-4", input=CALL, tools=RESPONSES_TOOLS, reasoning={"effort": "low", "summary": "auto"})
    first = raw.parse()
    assert raw.headers["x-tierroute-provider"] == "anthropic"
    assert "reasoning" not in dropped(raw)  # claude-sonnet-4 has the reasoning capability
    up = last_to(sim, "/v1/messages")["body"]
    assert up["thinking"]["type"] in ("enabled", "adaptive")
    # the tools arrive as declared, with tierroute's cache breakpoint on the last (prompt_cache_hints)
    assert up["tools"][-1].pop("cache_control") == {"type": "ephemeral"}
    assert up["tools"] == ANTHROPIC_TOOLS
    call = next(o for o in first.output if o.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}

    second = oai.responses.create(model="claude-sonnet-4", previous_response_id=first.id, tools=RESPONSES_TOOLS,
                                  reasoning={"effort": "low"},
                                  input=[{"type": "function_call_output", "call_id": call.call_id, "output": "rainy"}])
    assert "The tool returned: rainy" in second.output_text
    up = last_to(sim, "/v1/messages")["body"]
    results = [b for m in up["messages"] for b in (m["content"] if isinstance(m["content"], list) else [])
               if b.get("type") == "tool_result"]
    assert results and results[-1]["tool_use_id"] == call.call_id
    assert_thinking_continues(up)


@pytest.mark.parametrize(("model", "reasons"), [("gemini-3-flash-preview", True), ("gemini-2.0-flash", False)])
def test_responses_to_gemini_with_tools_and_reasoning(sim: SimThread, oai: openai.OpenAI, model: str,
                                                      reasons: bool) -> None:
    raw = oai.responses.with_raw_response.create(model=model, input=CALL, tools=RESPONSES_TOOLS,
                                                 reasoning={"effort": "medium"})
    first = raw.parse()
    up = last_to(sim, "/v1beta/models/")
    assert up["model"] == model
    thinking_config = (up["body"].get("generationConfig") or {}).get("thinkingConfig")
    if reasons:
        assert thinking_config and "reasoning" not in dropped(raw)
    else:
        assert thinking_config is None and "reasoning" in dropped(raw)
    assert up["body"]["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    call = next(o for o in first.output if o.type == "function_call")
    assert json.loads(call.arguments) == {"city": "Paris"}
    second = oai.responses.create(model=model, previous_response_id=first.id, tools=RESPONSES_TOOLS,
                                  input=[{"type": "function_call_output", "call_id": call.call_id, "output": "windy"}])
    assert "The tool returned:" in second.output_text and "windy" in second.output_text
    contents = last_to(sim, "/v1beta/models/")["body"]["contents"]
    parts = [p for c in contents for p in c["parts"]]
    assert any("functionCall" in p for p in parts) and any("functionResponse" in p for p in parts)


def test_responses_stream_answered_by_anthropic(oai: openai.OpenAI) -> None:
    types = []
    with oai.responses.stream(model="claude-sonnet-4", input=CALL, tools=RESPONSES_TOOLS,
                              reasoning={"effort": "low"}) as stream:
        for event in stream:
            types.append(event.type)
        final = stream.get_final_response()
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in types or "response.function_call_arguments.done" in types
    call = next(o for o in final.output if o.type == "function_call")
    assert json.loads(call.arguments) == {"city": "Paris"}


# ------------------------------------------------------------------------- Anthropic in

def test_anthropic_to_openai_with_tools_and_thinking(sim: SimThread, claude: anthropic.Anthropic) -> None:
    kwargs: dict[str, Any] = {
        "model": "gpt-4.1", "max_tokens": 3000, "tools": ANTHROPIC_TOOLS,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": [{"type": "text", "text": "You are terse.", "cache_control": EPHEMERAL}],
        "extra_headers": {"anthropic-beta": "interleaved-thinking-2025-05-14"}}
    messages: list[dict[str, Any]] = [{"role": "user", "content": CALL}]
    raw = claude.messages.with_raw_response.create(messages=messages, **kwargs)
    msg = raw.parse()
    assert raw.headers["x-tierroute-provider"] == "openai"
    names = dropped(raw)
    assert "cache_control" in names and "anthropic-beta" in names
    assert "thinking" in names or "reasoning" in names  # gpt-4.1 has no reasoning capability
    up = last_to(sim, "/v1/chat/completions")
    assert "reasoning_effort" not in up["body"] and markers(up["body"]) == 0
    assert "anthropic-beta" not in {k.lower() for k in up["headers"]}
    assert up["body"]["tools"][0]["function"]["name"] == "get_weather"
    assert msg.stop_reason == "tool_use"
    use = next(b for b in msg.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Paris"}

    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "foggy",
                                               "cache_control": EPHEMERAL}]}]
    final = claude.messages.create(messages=messages, **kwargs)
    assert final.stop_reason == "end_turn"
    assert "The tool returned: foggy" in "".join(b.text for b in final.content if b.type == "text")
    up = last_to(sim, "/v1/chat/completions")["body"]
    tool_msgs = [m for m in up["messages"] if m["role"] == "tool"]
    assert tool_msgs and tool_msgs[-1]["tool_call_id"] == use.id


def test_anthropic_stream_answered_by_openai(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="gpt-4.1", max_tokens=2000, tools=ANTHROPIC_TOOLS,
                                thinking={"type": "enabled", "budget_tokens": 1024},
                                messages=[{"role": "user", "content": CALL}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    use = next(b for b in final.content if b.type == "tool_use")
    assert use.input == {"city": "Paris"}


def test_anthropic_server_tool_to_openai_is_named(gw: GatewayProcess) -> None:
    body = {"model": "gpt-4.1", "max_tokens": 500,
            "tools": [*ANTHROPIC_TOOLS, {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
            "messages": [{"role": "user", "content": "What happened today? (server tool)"}]}
    r = httpx.post(gw.url + "/v1/messages", json=body, timeout=60,
                   headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"})
    assert r.status_code == 200, r.text
    assert any(n.startswith("tools.web_search") and "web_search_20250305" in n for n in dropped(r)), \
        r.headers.get("x-tierroute-dropped")


# ------------------------------------------------------------------------- OpenAI chat in

def chat_history_with_markers(turns: int) -> list[dict[str, Any]]:
    """A LiteLLM / OpenRouter style conversation: cache_control on text parts, one per message."""
    msgs: list[dict[str, Any]] = [{"role": "system", "content": [
        {"type": "text", "text": "You are a weather bot.", "cache_control": EPHEMERAL}]}]
    for i in range(turns):
        msgs.append({"role": "user", "content": [{"type": "text", "text": f"Earlier question {i}",
                                                  "cache_control": EPHEMERAL}]})
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": f"Earlier answer {i}",
                                                       "cache_control": EPHEMERAL}]})
    msgs.append({"role": "user", "content": [{"type": "text", "text": CALL, "cache_control": EPHEMERAL}]})
    return msgs


@pytest.mark.parametrize("echo", ["whole message", "content and tool_calls"])
def test_chat_to_anthropic_carries_thinking_and_cache_markers(sim: SimThread, oai: openai.OpenAI, echo: str) -> None:
    """The assistant turn goes back either as the SDK returned it (with tierroute's `reasoning` blocks,
    signatures included) or as the standard fields only, as most chat clients keep it."""
    messages = chat_history_with_markers(0)
    raw = oai.chat.completions.with_raw_response.create(model="claude-sonnet-4", messages=messages,
                                                        tools=CHAT_TOOLS, reasoning_effort="low")
    r = raw.parse()
    assert raw.headers["x-tierroute-provider"] == "anthropic"
    assert "cache_control" not in dropped(raw) and "reasoning" not in dropped(raw)
    up = last_to(sim, "/v1/messages")["body"]
    assert up["thinking"]["type"] == "enabled" and up["thinking"]["budget_tokens"] >= 1024
    assert up["thinking"]["budget_tokens"] < up["max_tokens"]
    assert up["system"][-1].get("cache_control") == EPHEMERAL
    assert up["messages"][-1]["content"][-1].get("cache_control") == EPHEMERAL
    assert markers(up) == 2

    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and json.loads(call.function.arguments) == {"city": "Paris"}
    assistant = r.choices[0].message.model_dump(exclude_none=True) if echo == "whole message" else \
        {"role": "assistant", "content": r.choices[0].message.content, "tool_calls": [call.model_dump(exclude_none=True)]}
    if echo == "whole message":
        assert assistant.get("reasoning_details"), "the answer carries its thinking block for the next turn"
    messages += [assistant,
                 {"role": "tool", "tool_call_id": call.id, "content": "hail"}]
    final = oai.chat.completions.create(model="claude-sonnet-4", messages=messages, tools=CHAT_TOOLS,
                                        reasoning_effort="low")
    assert "The tool returned: hail" in final.choices[0].message.content
    up = last_to(sim, "/v1/messages")["body"]
    assert_thinking_continues(up)


def test_chat_to_anthropic_keeps_at_most_four_cache_markers(sim: SimThread, oai: openai.OpenAI) -> None:
    messages = chat_history_with_markers(3)  # 8 markers: Anthropic takes at most 4
    raw = oai.chat.completions.with_raw_response.create(model="claude-sonnet-4", messages=messages,
                                                        tools=CHAT_TOOLS)
    assert raw.parse().choices[0].finish_reason == "tool_calls"
    up = last_to(sim, "/v1/messages")
    assert up["status"] == 200
    assert 1 <= markers(up["body"]) <= 4
    assert up["body"]["messages"][-1]["content"][-1].get("cache_control") == EPHEMERAL  # the latest prefix
    assert any(n.startswith("cache_control") for n in dropped(raw))


def test_chat_to_gemini_drops_cache_markers_by_name(sim: SimThread, oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="gemini-2.0-flash", messages=chat_history_with_markers(0), tools=CHAT_TOOLS, reasoning_effort="high")
    r = raw.parse()
    assert r.choices[0].finish_reason == "tool_calls"
    assert {"cache_control", "reasoning"} <= dropped(raw)
    up = last_to(sim, "/v1beta/models/")["body"]
    assert "thinkingConfig" not in json.dumps(up) and "cache_control" not in json.dumps(up)


def test_nothing_dropped_is_no_header(sim: SimThread, oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="claude-sonnet-4", messages=[{"role": "user", "content": "Plain question. (no drops)"}])
    assert "x-tierroute-dropped" not in raw.headers
    assert recorded(sim)[-1]["path"] == "/v1/messages"
