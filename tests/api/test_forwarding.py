"""Forwarding as sent: a request whose answering deployment speaks the caller's dialect reaches the
vendor (here the simulator, which records every request as received) with only the model id, the key
and the base URL changed; the answer comes back byte for byte. Real agents' captured requests
(tests/fixtures/agents) are the inputs."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from e2e_helpers import (
    CLIENT_KEY,
    PROVIDER_KEYS,
    agent_fixture,
    auth,
    client_headers,
    dropped,
    last_to,
    lower_headers,
    module_stack,
    recorded_to,
    sse_events,
)

from gateway_process import GatewayProcess, SimThread

MSG_ID = re.compile(rb"msg_[0-9a-f]+")
CATALOG = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "models.yaml").read_text())["models"]


env, sim, gw = module_stack()


def send_fixture(gw: GatewayProcess, fixture: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gw.url + fixture["path"], headers=client_headers(fixture["headers"]),
                      content=json.dumps(body).encode(), timeout=60)


def cache_markers(node: Any) -> list[Any]:
    """Every cache_control value in a JSON document, in document order."""
    if isinstance(node, dict):
        return ([node["cache_control"]] if "cache_control" in node else []) + \
            [m for k, v in node.items() if k != "cache_control" for m in cache_markers(v)]
    if isinstance(node, list):
        return [m for v in node for m in cache_markers(v)]
    return []


# ------------------------------------------------------------------------- Claude Code -> Anthropic

@pytest.mark.parametrize("fixture_name", ["claude_code_request.json", "claude_code_tool_result_request.json"])
@pytest.mark.parametrize("model", ["claude-opus-5-5", "claude-sonnet-4-5"])
def test_claude_code_request_arrives_as_sent(sim: SimThread, gw: GatewayProcess, fixture_name: str,
                                             model: str) -> None:
    """claude-opus-5-5 takes Claude Code's max_tokens 128000 as is; claude-sonnet-4-5 (max_output 64000)
    must be the model that answers, with max_tokens cut to its limit and nothing else changed."""
    fx = agent_fixture(fixture_name)
    sent = {**fx["body"], "model": model}
    sim.reset()
    r = send_fixture(gw, fx, sent)
    assert r.status_code == 200, r.text
    assert r.headers["x-tierroute-model"] == model, (
        f"asked for {model}, answered by {r.headers['x-tierroute-model']} (route {r.headers['x-tierroute-route']})")
    assert "x-tierroute-dropped" not in r.headers

    reqs = recorded_to(sim, "/v1/messages")
    assert len(reqs) == 1
    got = reqs[0]
    assert got["path"] == "/v1/messages" and got["query"] == "beta=true"
    body = got["body"]
    meta = CATALOG[model]
    assert body["model"] == meta["upstream"]
    assert body["max_tokens"] == min(sent["max_tokens"], meta["max_output"])
    # Field by field (a failure names the field), then the whole body.
    for field in ("thinking", "context_management", "output_config", "metadata", "tools", "system", "messages",
                  "stream"):
        assert body.get(field) == sent[field], field
    assert [m["role"] for m in body["messages"]] == [m["role"] for m in sent["messages"]]
    assert "system" in [m["role"] for m in body["messages"]]  # Claude Code's system turn inside messages
    assert cache_markers(body) == cache_markers(sent) and cache_markers(sent)
    assert json.dumps(body["tools"], sort_keys=True) == json.dumps(sent["tools"], sort_keys=True)
    assert {k: v for k, v in body.items() if k not in ("model", "max_tokens")} == \
        {k: v for k, v in sent.items() if k not in ("model", "max_tokens")}

    h = lower_headers(got)
    for name in ("anthropic-beta", "anthropic-version", "x-claude-code-session-id", "x-app", "user-agent",
                 "anthropic-dangerous-direct-browser-access"):
        assert h.get(name) == fx["headers"][name], name
    assert h["x-api-key"] == PROVIDER_KEYS["anthropic"]
    assert CLIENT_KEY not in json.dumps(got["header_list"])


def test_forwarded_anthropic_stream_keeps_the_thinking_signature_byte_for_byte(sim: SimThread,
                                                                             gw: GatewayProcess) -> None:
    """Claude Code's own request (thinking adaptive, display omitted): the client's SSE has the thinking
    block and its signature, and is exactly what the vendor sent (the same request sent straight to the
    simulator, whose answers are deterministic, gives the same bytes but for the message id)."""
    fx = agent_fixture("claude_code_request.json")
    sent = {**fx["body"], "model": "claude-opus-5-5"}
    sim.reset()
    r = send_fixture(gw, fx, sent)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    starts = [d for e, d in events if e == "content_block_start"]
    assert starts[0]["content_block"]["type"] == "thinking"
    sigs = [d["delta"]["signature"] for e, d in events
            if e == "content_block_delta" and d["delta"]["type"] == "signature_delta"]
    assert len(sigs) == 1 and len(sigs[0]) > 100
    assert events[-1][0] == "message_stop"

    upstream = last_to(sim, "/v1/messages")
    sim.reset()  # forget the prompt cache, so the direct call meets the simulator in the same state
    direct = httpx.post(sim.base_url + upstream["path_qs"], content=base64.b64decode(upstream["raw_body_base64"]),
                        headers={"x-api-key": "sk-direct", "anthropic-version": "2023-06-01",
                                 "content-type": "application/json"}, timeout=60)
    assert direct.status_code == 200
    # The message id is the only thing allowed to differ (the simulator draws a new one per call).
    assert MSG_ID.sub(b"msg_X", r.content) == MSG_ID.sub(b"msg_X", direct.content)


def test_forwarded_anthropic_stream_with_visible_thinking(sim: SimThread, gw: GatewayProcess) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 4000, "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": "Why is the sky blue?"}]}
    r = httpx.post(gw.url + "/v1/messages", json=body, timeout=60,
                   headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"})
    assert r.status_code == 200, r.text
    events = sse_events(r.text)
    thinking = "".join(d["delta"]["thinking"] for e, d in events
                       if e == "content_block_delta" and d["delta"]["type"] == "thinking_delta")
    sigs = [d["delta"]["signature"] for e, d in events
            if e == "content_block_delta" and d["delta"]["type"] == "signature_delta"]
    assert thinking and sigs and sigs[0]
    got = last_to(sim, "/v1/messages")["body"]
    assert got["thinking"] == body["thinking"]


# ------------------------------------------------------------------------- OpenAI chat -> OpenAI

def test_openai_chat_unknown_fields_arrive(sim: SimThread, gw: GatewayProcess) -> None:
    sent = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hello, forwarding test."}],
            "prompt_cache_key": "tenant-42", "service_tier": "flex", "verbosity": "low",
            "some_field_from_next_month": {"nested": [1, 2, 3]}}
    sim.reset()
    r = httpx.post(gw.url + "/v1/chat/completions", json=sent, timeout=60,
                   headers={**auth(), "OpenAI-Beta": "assistants=v2", "X-Stainless-Lang": "python"})
    assert r.status_code == 200, r.text
    assert r.headers["x-tierroute-model"] == "gpt-4.1"
    got = last_to(sim, "/v1/chat/completions")
    assert got["body"] == sent  # gpt-4.1's upstream id is gpt-4.1: nothing to change
    h = lower_headers(got)
    assert h["authorization"] == f"Bearer {PROVIDER_KEYS['openai']}"
    assert h.get("openai-beta") == "assistants=v2"
    # The answer comes back as the vendor wrote it.
    assert r.json()["choices"][0]["message"]["content"].startswith("[gpt-4.1] answer to: Hello, forwarding test.")


def test_openai_chat_stream_gets_usage_and_nothing_else_changed(sim: SimThread, gw: GatewayProcess) -> None:
    sent = {"model": "gpt-4.1", "stream": True, "prompt_cache_key": "k1",
            "messages": [{"role": "user", "content": "Stream me, forwarding test."}]}
    r = httpx.post(gw.url + "/v1/chat/completions", json=sent, headers=auth(), timeout=60)
    assert r.status_code == 200
    got = last_to(sim, "/v1/chat/completions")["body"]
    assert got["stream_options"]["include_usage"] is True  # accounting needs it
    assert {k: v for k, v in got.items() if k != "stream_options"} == sent
    # The client did not ask for usage: it gets no usage-only chunk.
    chunks = [d for _, d in sse_events(r.text) if isinstance(d, dict)]
    assert chunks and all(c.get("choices") for c in chunks)


def test_reasoning_effort_not_forwarded_to_a_model_without_reasoning(sim: SimThread, gw: GatewayProcess) -> None:
    """providers/reasoning.py: a model whose catalog entry lacks `reasoning` gets no reasoning parameter
    (OpenAI refuses reasoning_effort on gpt-4.1), and the drop is reported; forwarding is no exception."""
    assert "reasoning" not in CATALOG["gpt-4.1"]["capabilities"]
    sent = {"model": "gpt-4.1", "reasoning_effort": "high", "service_tier": "auto",
            "messages": [{"role": "user", "content": "Think hard, forwarding test."}]}
    r = httpx.post(gw.url + "/v1/chat/completions", json=sent, headers=auth(), timeout=60)
    assert r.status_code == 200
    got = last_to(sim, "/v1/chat/completions")["body"]
    assert got.get("service_tier") == "auto"
    assert "reasoning_effort" not in got
    assert "reasoning" in dropped(r) or "reasoning_effort" in dropped(r)


# ------------------------------------------------------------------------- Codex -> OpenAI Responses

def test_codex_responses_request_arrives_as_sent(sim: SimThread, gw: GatewayProcess) -> None:
    fx = agent_fixture("codex_request.json")
    sent = {**fx["body"], "model": "gpt-4.1"}
    sim.reset()
    r = send_fixture(gw, fx, sent)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    types = [d.get("type") for _, d in sse_events(r.text) if isinstance(d, dict)]
    assert types[0] == "response.created" and types[-1] == "response.completed"

    got = last_to(sim, "/v1/responses")
    assert got["path"] == "/v1/responses" and got["method"] == "POST"
    body = got["body"]
    # gpt-4.1 has no `reasoning` capability: Codex's reasoning settings may arrive as sent, or be
    # left out and named in X-Tierroute-Dropped; every other field arrives exactly as sent.
    for field in ("reasoning", "include"):
        if field not in body:
            assert "reasoning" in dropped(r) or field in dropped(r), field
        else:
            assert body[field] == sent[field]
    for field in ("input", "tools", "tool_choice", "parallel_tool_calls", "store", "prompt_cache_key",
                  "client_metadata", "stream"):
        assert body.get(field) == sent[field], field
    assert {k: v for k, v in body.items() if k not in ("reasoning", "include")} == \
        {k: v for k, v in sent.items() if k not in ("reasoning", "include")}
    h = lower_headers(got)
    for name in ("originator", "session-id", "thread-id", "x-client-request-id", "x-codex-window-id",
                 "x-codex-turn-metadata", "x-codex-beta-features", "user-agent"):
        assert h.get(name) == fx["headers"][name], name
    assert h["authorization"] == f"Bearer {PROVIDER_KEYS['openai']}"
    assert CLIENT_KEY not in json.dumps(got["header_list"])


def test_the_clients_anthropic_version_is_kept(sim: SimThread, gw: GatewayProcess) -> None:
    """Forwarding swaps the key, not the API version the client speaks."""
    sim.reset()
    r = httpx.post(gw.url + "/v1/messages", timeout=30,
                   headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2024-10-22"},
                   json={"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    h = lower_headers(last_to(sim, "/v1/messages"))
    assert h["anthropic-version"] == "2024-10-22"
    assert h["x-api-key"] == PROVIDER_KEYS["anthropic"]
