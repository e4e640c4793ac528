"""``GET /_sim/requests`` shows each request as it arrived (so a test can check what a gateway
forwarded), and OpenAI chat usage reports automatic prefix caching."""

from __future__ import annotations

import base64
import math

import httpx
import openai

from .conftest import KEY

MSGS = [{"role": "user", "content": "hi"}]


def test_every_request_is_recorded_as_received(http: httpx.Client) -> None:
    raw = (
        b'{"model": "claude-x",  "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "new": 1}'
    )
    headers = [("x-api-key", KEY), ("anthropic-version", "2023-06-01"), ("anthropic-beta", "a-1"),
               ("anthropic-beta", "b-2"), ("Content-Type", "application/json"), ("X-Custom", "Kept")]  # fmt: skip
    r = http.post("/v1/messages?beta=true", content=raw, headers=headers)
    assert r.status_code == 200
    [entry] = http.get("/_sim/requests").json()["requests"]
    assert entry["method"] == "POST" and entry["path"] == "/v1/messages" and entry["query"] == "beta=true"
    assert (
        entry["path_qs"] == "/v1/messages?beta=true"
        and entry["dialect"] == "anthropic"
        and entry["model"] == "claude-x"
    )
    assert entry["raw_body"] == raw.decode() and base64.b64decode(entry["raw_body_base64"]) == raw
    assert entry["body"]["new"] == 1 and entry["status"] == 200
    assert entry["headers"]["X-Custom"] == "Kept" and entry["headers"]["anthropic-beta"] == "a-1, b-2"
    assert ["anthropic-beta", "a-1"] in entry["header_list"] and ["anthropic-beta", "b-2"] in entry[
        "header_list"
    ]


def test_refused_and_unparseable_requests_are_recorded_too(http: httpx.Client) -> None:
    http.post("/v1/chat/completions", content=b"not json", headers={"Authorization": f"Bearer {KEY}"})
    http.post("/v1beta/models/gemini-2.5-pro:generateContent?alt=sse", json={"contents": []})
    http.get("/nowhere")
    first, second, third = http.get("/_sim/requests").json()["requests"]
    assert first["body"] is None and first["raw_body"] == "not json" and first["status"] == 400
    assert first["headers"]["Authorization"] == f"Bearer {KEY}" and first["dialect"] == "openai"
    assert (
        second["dialect"] == "gemini" and second["model"] == "gemini-2.5-pro" and second["query"] == "alt=sse"
    )
    assert second["status"] == 403 and third["path"] == "/nowhere" and third["status"] == 404
    http.post("/_sim/reset")
    assert http.get("/_sim/requests").json()["requests"] == []


def test_chat_completions_report_cached_prefix_tokens(oai: openai.OpenAI) -> None:
    system = "You are a coding agent with many rules. " * 120  # 4800 characters: 1200 tokens

    def ask(question: str, model: str = "gpt-4o") -> openai.types.CompletionUsage:
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        return oai.chat.completions.create(model=model, messages=msgs).usage  # type: ignore[arg-type, return-value]

    first = ask("Explain routers")
    assert first.prompt_tokens_details.cached_tokens == 0
    again = ask("Explain switches")  # the same first 1152 tokens (1024 + 128): cached
    assert again.prompt_tokens_details.cached_tokens == 1152 and again.prompt_tokens == math.ceil(
        len(system + "\nExplain switches") / 4
    )
    assert ask("Explain switches", model="gpt-4o-mini").prompt_tokens_details.cached_tokens == 0  # per model
    short = oai.chat.completions.create(model="gpt-4o", messages=MSGS)  # type: ignore[arg-type]
    assert short.usage.prompt_tokens_details.cached_tokens == 0  # under 1024 tokens nothing is cached


def test_reasoning_effort_counts_reasoning_tokens(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="o4-mini", messages=MSGS, reasoning_effort="high")  # type: ignore[arg-type]
    details = r.usage.completion_tokens_details
    assert details.reasoning_tokens > 0
    assert r.usage.completion_tokens == details.reasoning_tokens + math.ceil(
        len(r.choices[0].message.content) / 4
    )
