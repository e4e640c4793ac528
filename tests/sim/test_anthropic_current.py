"""The current Messages API as Claude Code and the SDK send it: system turns in ``messages``,
``cache_control`` accounting, thinking blocks (JSON and SSE), the beta surface, count_tokens."""

from __future__ import annotations

import json
import math

import anthropic
import httpx
import pytest

from .conftest import KEY, ThreadedSim, sse_events

MODEL = "claude-sonnet-4-5"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
SYSTEM = "You are a careful coding agent. " * 40  # 1280 characters, 320 tokens
CACHED_SYSTEM = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]


def test_system_turns_inside_messages_count_as_prompt_not_question(ant: anthropic.Anthropic) -> None:
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Explain routers"},
            {"role": "system", "content": [{"type": "text", "text": "Reminder: stay on topic."}]}]  # fmt: skip
    m = ant.messages.create(model=MODEL, max_tokens=200, messages=msgs)  # type: ignore[arg-type]
    assert m.content[0].text.startswith(f"[{MODEL}] answer to: Explain routers")
    assert m.usage.input_tokens == math.ceil(len("Be brief.\nExplain routers\nReminder: stay on topic.") / 4)


def test_cache_control_writes_then_reads_the_marked_prefix(ant: anthropic.Anthropic) -> None:
    def ask(question: str, **kw: object) -> anthropic.types.Usage:
        msgs = [{"role": "user", "content": question}]
        return ant.messages.create(
            model=MODEL, max_tokens=50, system=CACHED_SYSTEM, messages=msgs, **kw
        ).usage  # type: ignore[arg-type]

    first = ask("Explain routers")
    assert first.cache_creation_input_tokens == 320 and first.cache_read_input_tokens == 0
    assert (
        first.cache_creation.ephemeral_5m_input_tokens == 320
        and first.cache_creation.ephemeral_1h_input_tokens == 0
    )
    assert first.input_tokens == math.ceil(len(SYSTEM + "\nExplain routers") / 4) - 320
    second = ask("Explain switches")  # the same prefix: read, not written again
    assert second.cache_read_input_tokens == 320 and second.cache_creation_input_tokens == 0
    other = ant.messages.create(model="claude-haiku-4-5", max_tokens=50, system=CACHED_SYSTEM,
                                messages=[{"role": "user", "content": "x"}]).usage  # type: ignore[arg-type]  # fmt: skip
    assert other.cache_read_input_tokens == 0 and other.cache_creation_input_tokens == 320  # per model
    no_marker = ant.messages.create(
        model=MODEL, max_tokens=50, system=SYSTEM, messages=[{"role": "user", "content": "x"}]
    )
    assert no_marker.usage.cache_read_input_tokens == 0 and no_marker.usage.cache_creation_input_tokens == 0


def test_a_longer_marked_prefix_reads_the_old_part_and_writes_the_rest(ant: anthropic.Anthropic) -> None:
    turn = {
        "role": "user",
        "content": [{"type": "text", "text": "q" * 400, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
    }
    ant.messages.create(
        model=MODEL, max_tokens=50, system=CACHED_SYSTEM, messages=[{"role": "user", "content": "x"}]
    )  # type: ignore[arg-type]
    u = ant.messages.create(model=MODEL, max_tokens=50, system=CACHED_SYSTEM, messages=[turn]).usage  # type: ignore[arg-type, list-item]
    assert u.cache_read_input_tokens == 320
    assert u.cache_creation_input_tokens == math.ceil(len(SYSTEM + "\n" + "q" * 400) / 4) - 320
    assert u.cache_creation.ephemeral_1h_input_tokens == u.cache_creation_input_tokens and u.input_tokens == 0


def test_top_level_cache_control_marks_the_whole_prompt(http: httpx.Client) -> None:
    body = {"model": MODEL, "max_tokens": 20, "cache_control": {"type": "ephemeral"}, "system": SYSTEM,
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    first = http.post("/v1/messages", json=body, headers=HEADERS).json()["usage"]
    again = http.post("/v1/messages", json=body, headers=HEADERS).json()["usage"]
    assert (
        first["cache_creation_input_tokens"] == math.ceil(len(SYSTEM + "\nhi") / 4)
        and first["input_tokens"] == 0
    )
    assert again["cache_read_input_tokens"] == first["cache_creation_input_tokens"]


@pytest.mark.parametrize("thinking", [{"type": "enabled", "budget_tokens": 2048}, {"type": "adaptive"}])
def test_thinking_comes_first_with_a_signature(ant: anthropic.Anthropic, thinking: dict[str, object]) -> None:
    m = ant.messages.create(model=MODEL, max_tokens=4096, thinking=thinking, output_config={"effort": "high"},  # type: ignore[arg-type]
                            messages=[{"role": "user", "content": "Explain routers"}])  # fmt: skip
    assert [b.type for b in m.content] == ["thinking", "text"]
    block = m.content[0]
    assert block.thinking.startswith("The user asks: Explain routers") and len(block.signature) > 100
    assert m.usage.output_tokens == math.ceil(len(block.thinking) / 4) + math.ceil(len(m.content[1].text) / 4)
    off = ant.messages.create(model=MODEL, max_tokens=4096, thinking={"type": "disabled"},
                              messages=[{"role": "user", "content": "Explain routers"}])  # fmt: skip
    assert [b.type for b in off.content] == ["text"] and off.content[0].text == m.content[1].text


def test_thinking_display_omitted_keeps_the_signature(ant: anthropic.Anthropic) -> None:
    m = ant.messages.create(model=MODEL, max_tokens=4096, thinking={"type": "adaptive", "display": "omitted"},  # type: ignore[typeddict-unknown-key]
                            messages=[{"role": "user", "content": "Explain routers"}])  # fmt: skip
    assert m.content[0].type == "thinking" and m.content[0].thinking == "" and m.content[0].signature


def test_thinking_streams_as_anthropic_streams_it(sim: ThreadedSim, ant: anthropic.Anthropic) -> None:
    body = {"model": MODEL, "max_tokens": 3000, "stream": True, "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "Explain routers"}]}  # fmt: skip
    events = [
        (n, json.loads(d))
        for n, d in sse_events(httpx.post(sim.base_url + "/v1/messages", json=body, headers=HEADERS).text)
    ]
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert events[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    block0 = [d for n, d in events if n == "content_block_delta" and d["index"] == 0]
    assert {d["delta"]["type"] for d in block0[:-1]} == {"thinking_delta"}
    assert block0[-1]["delta"]["type"] == "signature_delta" and block0[-1]["delta"]["signature"]
    stop0 = names.index("content_block_stop")
    assert events[stop0 - 1][1]["delta"]["type"] == "signature_delta"  # the signature just before the stop
    assert events[stop0 + 1][1]["content_block"]["type"] == "text"
    start_usage, final_usage = events[0][1]["message"]["usage"], events[-2][1]["usage"]
    assert {
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "cache_creation",
    } <= set(start_usage)
    assert final_usage["input_tokens"] == start_usage["input_tokens"] and final_usage["output_tokens"] > 1
    with ant.messages.stream(model=MODEL, max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024},
                             messages=[{"role": "user", "content": "Explain routers"}]) as s:  # fmt: skip
        final = s.get_final_message()
    plain = ant.messages.create(model=MODEL, max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024},
                                messages=[{"role": "user", "content": "Explain routers"}])  # fmt: skip
    assert (
        final.content[0].signature == plain.content[0].signature
        and final.content[1].text == plain.content[1].text
    )


def test_thinking_is_checked_as_the_api_checks_it(http: httpx.Client) -> None:
    base = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    cases = [
        ({**base, "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 512}}, "greater than or equal to 1024"),
        ({**base, "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 2000}}, "`max_tokens` must be greater"),
        ({**base, "max_tokens": 2000, "thinking": {"type": "adaptive"}, "tool_choice": {"type": "any"},
          "tools": [{"name": "t", "input_schema": {"type": "object"}}]}, "Thinking may not be enabled"),
    ]  # fmt: skip
    for body, message in cases:
        r = http.post("/v1/messages", json=body, headers=HEADERS)
        assert r.status_code == 400 and message in r.json()["error"]["message"]


def test_earlier_thinking_new_fields_and_tool_types_are_accepted(
    sim: ThreadedSim, http: httpx.Client
) -> None:
    body = {
        "model": MODEL, "max_tokens": 128000, "metadata": {"user_id": "user_abc_session_1"},
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}, "output_config": {"effort": "medium"},
        "thinking": {"type": "enabled", "budget_tokens": 4096}, "speed": "standard", "some_future_field": {"x": 1},
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "tools": [{"name": "Read", "description": "read", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
                  {"type": "bash_20250124", "name": "bash"}, {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
                  {"type": "mcp_toolset", "mcp_server_name": "x"}],
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "sig"},
                                              {"type": "redacted_thinking", "data": "abc"}, {"type": "text", "text": "ok"}]},
            {"role": "user", "content": [{"type": "text", "text": "second", "cache_control": {"type": "ephemeral"}}]},
        ],
    }  # fmt: skip
    r = http.post("/v1/messages?beta=true", json=body,
                  headers={**HEADERS, "anthropic-beta": "context-management-2025-06-27,interleaved-thinking-2025-05-14"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["content"][0]["type"] == "thinking"
    r = http.post(
        "/v1/messages",
        json={**body, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
        headers=HEADERS,
    )
    assert r.status_code == 400  # an unknown block type is refused on the stable surface ...
    r = http.post("/v1/messages?beta=true", json={**body, "messages": [{"role": "user", "content": [
        {"type": "some_new_block", "x": 1}, {"type": "text", "text": "hi"}]}]}, headers=HEADERS)  # fmt: skip
    assert r.status_code == 200  # ... and accepted on the beta one, where new types appear first


def test_beta_messages_through_the_sdk(ant: anthropic.Anthropic) -> None:
    m = ant.beta.messages.create(model=MODEL, max_tokens=100, betas=["context-management-2025-06-27"],
                                 messages=[{"role": "user", "content": "Explain routers"}])  # fmt: skip
    assert m.stop_reason == "end_turn" and m.content[0].text.startswith(f"[{MODEL}]")


def test_stop_sequence_is_reported_with_the_matched_string(ant: anthropic.Anthropic) -> None:
    m = ant.messages.create(model=MODEL, max_tokens=200, stop_sequences=["zzz", "routers"],
                            messages=[{"role": "user", "content": "Explain routers"}])  # fmt: skip
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == "routers"
    with ant.messages.stream(model=MODEL, max_tokens=200, stop_sequences=["routers"],
                             messages=[{"role": "user", "content": "Explain routers"}]) as s:  # fmt: skip
        final = s.get_final_message()
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == "routers"


def test_count_tokens_takes_the_whole_current_request(ant: anthropic.Anthropic) -> None:
    msgs = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Explain routers", "cache_control": {"type": "ephemeral"}}]}]  # fmt: skip
    n = ant.messages.count_tokens(model=MODEL, messages=msgs, system=CACHED_SYSTEM,  # type: ignore[arg-type]
                                  thinking={"type": "enabled", "budget_tokens": 2048},
                                  tools=[{"name": "Read", "input_schema": {"type": "object"}}])  # fmt: skip
    assert n.input_tokens == math.ceil(len(SYSTEM + "\nBe brief.\nExplain routers") / 4)
    assert (
        ant.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "abcd"}]).input_tokens
        == 1
    )
