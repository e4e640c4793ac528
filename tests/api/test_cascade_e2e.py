"""Cascades through the gateway: the cheap model answers first and a failed check escalates to the
next model, recording why."""

from __future__ import annotations

import httpx
import pytest

from gateway_process import GatewayProcess, SimThread, provider_env, write_config

CHEAP = "deepseek/deepseek-chat-v3-0324:free"  # first model of the shipped coding-simple rule


@pytest.fixture(scope="module")
def gw(sim: SimThread, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    d = tmp_path_factory.mktemp("cascade")
    (d / "rate_limits.yaml").write_text("providers: {}\n")
    g = GatewayProcess(write_config(d, {"rate_limits": str(d / "rate_limits.yaml"), "cache": {"enabled": False}}),
                       env=provider_env(sim.base_url), workdir=d).start()
    yield g
    g.stop()


def coding(gw: GatewayProcess, text: str, **extra) -> httpx.Response:  # noqa: ANN003
    return httpx.post(gw.url + "/v1/chat/completions", timeout=30,
                      headers={**gw.headers(), "X-Tierroute-Task": "coding", "X-Tierroute-Complexity": "low"},
                      json={"model": "auto", "messages": [{"role": "user", "content": text}], **extra})


def test_good_cheap_answer_is_kept(gw: GatewayProcess) -> None:
    r = coding(gw, "Write a python function that reverses a string.")
    assert r.status_code == 200
    assert r.headers["x-tierroute-model"] == "deepseek-v3"
    assert r.headers["x-tierroute-route"] == "rule:coding-simple"
    assert "x-tierroute-escalated" not in r.headers


@pytest.mark.parametrize(("directive", "extra", "why"), [
    ("badcode", {}, "parse"),
    ("refuse", {}, "refus"),
    ("empty", {}, "empty"),
    ("long", {"max_tokens": 400}, "length"),
    ("badjson", {"response_format": {"type": "json_object"}}, "json"),
])
def test_failed_check_escalates(gw: GatewayProcess, directive: str, extra: dict, why: str) -> None:
    r = coding(gw, f"Write a python function that adds two numbers, as json. [[sim:{directive}@{CHEAP}]]", **extra)
    assert r.status_code == 200, r.text
    assert r.headers["x-tierroute-model"] == "qwen-2.5-coder"  # the rule's next model
    reason = r.headers["x-tierroute-escalated"]
    assert reason.startswith("deepseek-v3:") and why in reason.lower()


def test_escalations_are_in_the_usage_record(gw: GatewayProcess) -> None:
    rows = httpx.get(gw.url + "/admin/usage", params={"by": "task"}, headers=gw.headers()).json()["data"]
    row = next(r for r in rows if r["task"] == "coding")
    assert row["escalations"] == 5 and row["requests"] == 6
