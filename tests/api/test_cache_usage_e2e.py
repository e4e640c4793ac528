"""The cache and usage records through the real gateway: a repeated question is answered from cache
(also as a stream), controls are honoured, and every request leaves a usage record."""

from __future__ import annotations

import httpx
import openai
import pytest

from gateway_process import MASTER_KEY, GatewayProcess


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_repeat_is_an_exact_hit(client: openai.OpenAI) -> None:
    q = ask("What does the HTTP status 418 mean? (cache e2e 1)")
    first = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=q, temperature=0)
    second = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=q, temperature=0)
    assert first.headers["x-tierroute-cache"] == "miss"
    assert second.headers["x-tierroute-cache"] == "hit-exact"
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    other_model = client.chat.completions.with_raw_response.create(model="claude-sonnet-4", messages=q,
                                                                   temperature=0)
    assert other_model.headers["x-tierroute-cache"] == "miss"


def test_streamed_hit_replays_as_sse(client: openai.OpenAI) -> None:
    q = ask("Name three prime numbers. (cache e2e 2)")
    full = client.chat.completions.create(model="gpt-4o", messages=q, temperature=0).choices[0].message.content
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=q, temperature=0, stream=True,
                                                           stream_options={"include_usage": True})
    assert raw.headers["x-tierroute-cache"] == "hit-exact"
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == full
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_no_cache_and_no_store(client: openai.OpenAI) -> None:
    q = ask("Explain DNS briefly. (cache e2e 3)")
    client.chat.completions.create(model="gpt-4o", messages=q, temperature=0)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=q, temperature=0,
                                                           extra_headers={"Cache-Control": "no-cache"})
    assert raw.headers["x-tierroute-cache"] == "miss"
    q2 = ask("Explain ARP briefly. (cache e2e 4)")
    client.chat.completions.create(model="gpt-4o", messages=q2, temperature=0,
                                   extra_headers={"Cache-Control": "no-store"})
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=q2, temperature=0)
    assert raw.headers["x-tierroute-cache"] == "miss"


def test_usage_records_cost_and_cache_savings(client: openai.OpenAI, gateway: GatewayProcess) -> None:
    # mistral-large is used by no other test on this gateway, so its rows are exactly these two requests.
    q = ask("Summarise the CAP theorem. (usage e2e)")
    r = client.chat.completions.create(model="mistral-large", messages=q, temperature=0)
    hit = client.chat.completions.with_raw_response.create(model="mistral-large", messages=q, temperature=0)
    assert hit.headers["x-tierroute-cache"] == "hit-exact"
    rows = httpx.get(gateway.url + "/admin/usage", params={"by": "model"}, headers=gateway.headers()).json()["data"]
    row = next(row for row in rows if row.get("model") == "mistral-large")
    p, c = r.usage.prompt_tokens, r.usage.completion_tokens
    assert row["requests"] == 2 and row["cache_hits"] == 1
    assert row["prompt_tokens"] == 2 * p and row["completion_tokens"] == 2 * c
    assert row["cost_usd"] == pytest.approx((p * 2.00 + c * 6.00) / 1e6)     # catalog: $2 / $6 per 1M, hit free
    assert row["saved_usd"] == pytest.approx((p * 2.00 + c * 6.00) / 1e6)    # what the hit did not spend
    assert row["baseline_cost_usd"] == pytest.approx(2 * (p * 15.00 + c * 75.00) / 1e6)  # Claude Opus 4 list
    metrics = httpx.get(gateway.url + "/metrics", headers=gateway.headers()).text
    assert 'tierroute_requests_total{' in metrics and 'model="mistral-large"' in metrics
