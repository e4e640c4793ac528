"""Provider prompt caching priced at its own rates: the catalog's arithmetic by hand, and end to end
through the simulator, whose Anthropic and OpenAI dialects report cache writes and reads as the
vendors do (``X-Tierroute-Cost-USD`` / ``-Baseline-USD`` on the answer, the split in the usage record,
the cost in a stream's final usage chunk)."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from e2e_helpers import auth, sim_and_gateway  # noqa: E402

from tierroute.catalog import ModelInfo  # noqa: E402
from tierroute.config import load_settings  # noqa: E402
from tierroute.providers.anthropic_wire import usage_of  # noqa: E402

CONFIG = Path(__file__).resolve().parent.parent.parent / "config" / "tierroute.yaml"


def sonnet_45() -> ModelInfo:
    return load_settings(str(CONFIG), environ={}).catalog.models["claude-sonnet-4-5"]


def test_each_token_kind_at_its_own_rate() -> None:
    m = sonnet_45()  # $3 input, $15 output, $3.75 5-minute write, $6 1-hour write, $0.30 read (per 1M)
    assert (m.input_per_m, m.output_per_m, m.cache_write_per_m, m.cache_write_1h_per_m, m.cache_read_per_m) == \
        (3.0, 15.0, 3.75, 6.0, 0.30)
    # 100,000 prompt tokens: 60,000 read, 30,000 written (10,000 of them for an hour), 10,000 plain; 1,000 out
    cost = m.cost(100_000, 1_000, cache_read=60_000, cache_write=30_000, cache_write_1h=10_000)
    by_hand = (10_000 * 3.0 + 20_000 * 3.75 + 10_000 * 6.0 + 60_000 * 0.30 + 1_000 * 15.0) / 1e6
    assert cost == pytest.approx(by_hand) == pytest.approx(0.198)
    assert m.cost(100_000, 1_000) == pytest.approx(0.315)  # no cache: every input token at $3


def test_unpublished_cache_price_is_plain_input() -> None:
    m = ModelInfo(name="x", tier="standard", input_per_m=1.0, output_per_m=2.0, context_window=1000, max_output=100)
    assert m.cost(1000, 0, cache_read=500, cache_write=200) == pytest.approx(1000 * 1.0 / 1e6)


def test_anthropic_usage_split_is_read_apart() -> None:
    u = usage_of({"input_tokens": 50, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 650,
                  "output_tokens": 9, "cache_creation": {"ephemeral_5m_input_tokens": 100,
                                                         "ephemeral_1h_input_tokens": 200}})
    assert (u.prompt_tokens, u.cache_read(), u.cache_write(), u.cache_write_1h()) == (1000, 650, 300, 200)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with sim_and_gateway(tmp_path_factory.mktemp("pricing")) as pair:
        yield pair


def _usage_row(gw_dir: Path, request_id: str) -> tuple[int, int, int, float, float]:
    db = gw_dir / ".tierroute" / "usage.db"
    for _ in range(50):
        if db.exists():
            row = sqlite3.connect(db).execute(
                "SELECT prompt_tokens, cache_read_tokens, cache_write_tokens, cost_usd, nocache_cost_usd "
                "FROM usage_events WHERE request_id = ?", (request_id,)).fetchone()
            if row:
                return row
        time.sleep(0.1)
    raise AssertionError(f"no usage record for {request_id} in {db}")


def test_anthropic_cache_write_then_read_priced_by_hand(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, gw = stack
    m = sonnet_45()
    system = [{"type": "text", "text": "You review code carefully. " * 800, "cache_control": {"type": "ephemeral"}}]
    body = {"model": "claude-sonnet-4-5", "max_tokens": 50, "system": system,
            "messages": [{"role": "user", "content": "Review this function."}]}
    costs = []
    for _ in range(2):
        r = httpx.post(gw.url + "/v1/messages", json=body, headers=auth(), timeout=30)
        assert r.status_code == 200, r.text
        u = r.json()["usage"]
        prompt = u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"]
        by_hand = (u["input_tokens"] * 3.0 + u["cache_creation_input_tokens"] * 3.75
                   + u["cache_read_input_tokens"] * 0.30 + u["output_tokens"] * 15.0) / 1e6
        assert float(r.headers["x-tierroute-cost-usd"]) == pytest.approx(by_hand, abs=1e-8)
        row = _usage_row(gw.workdir, r.headers["x-request-id"])
        assert row[:3] == (prompt, u["cache_read_input_tokens"], u["cache_creation_input_tokens"])
        assert row[3] == pytest.approx(by_hand, abs=1e-8)
        assert row[4] == pytest.approx(m.cost(prompt, u["output_tokens"]), abs=1e-8)  # without the cache
        costs.append((u["cache_creation_input_tokens"], u["cache_read_input_tokens"], by_hand))
    (w1, r1, c1), (w2, r2, c2) = costs
    assert w1 > 1000 and r1 == 0  # the first call writes the system prompt to the cache...
    assert r2 >= w1 and w2 == 0  # ...the second reads it back
    assert c2 < c1 / 3
    # the baseline (Opus 4: $15 in, $18.75 write, $1.50 read) is priced with the same cache tokens
    assert float(r.headers["x-tierroute-baseline-usd"]) == pytest.approx(
        (u["input_tokens"] * 15 + r2 * 1.5 + u["output_tokens"] * 75) / 1e6, abs=1e-8)


def test_openai_cached_prompt_priced_and_in_the_final_stream_chunk(stack) -> None:  # type: ignore[no-untyped-def]
    sim, gw = stack
    prefix = "Context: " + "the quick brown fox jumps over the lazy dog. " * 600
    body = {"model": "gpt-4.1", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "system", "content": prefix}, {"role": "user", "content": "Summarise."}]}
    last = None
    for _ in range(2):
        with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, headers=auth(), timeout=30) as r:
            assert r.status_code == 200
            chunks = [line[6:] for line in r.iter_lines() if line.startswith("data: {")]
        last = httpx.Response(200, content=chunks[-1]).json()
    u = last["usage"]
    cached = u["prompt_tokens_details"]["cached_tokens"]
    assert cached >= 1024
    # gpt-4.1: $2 input, $0.50 cached input, $8 output (per 1M)
    by_hand = ((u["prompt_tokens"] - cached) * 2.0 + cached * 0.50 + u["completion_tokens"] * 8.0) / 1e6
    assert u["cost"] == pytest.approx(by_hand, abs=1e-8)
    assert u["baseline_cost"] > u["cost"]


def test_reports_show_the_three_savings_apart(stack) -> None:  # type: ignore[no-untyped-def]
    """After the tests above (cache writes and reads on Anthropic and OpenAI, and no response-cache hit:
    the response cache is off here), /admin/usage splits the savings: routing (none: models were named,
    so baseline minus cost is the price gap to the baseline), the vendors' caches, tierroute's cache."""
    sim, gw = stack
    rows = httpx.get(gw.url + "/admin/usage?by=model&since=1h", headers=auth(), timeout=10).json()["data"]
    by = {r["model"]: r for r in rows}
    sonnet, gpt = by["claude-sonnet-4-5"], by["gpt-4.1"]
    for r in (sonnet, gpt):
        assert r["cache_read_tokens"] > 0 and r["provider_cache_saved_usd"] > 0
        assert r["response_cache_saved_usd"] == 0
        assert r["routing_saved_usd"] == pytest.approx(r["baseline_cost_usd"] - r["cost_usd"], abs=1e-9)
    # Sonnet 4.5 reads at $0.30 instead of $3 (saves $2.70 per million) and writes at $3.75 (costs $0.75
    # more): the vendor-cache saving is net of the write premium
    assert sonnet["provider_cache_saved_usd"] == pytest.approx(
        (sonnet["cache_read_tokens"] * 2.70 - sonnet["cache_write_tokens"] * 0.75) / 1e6, abs=1e-9)
