"""Each fault the simulator injects, and the fallback or error the client observes."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from gateway_process import MASTER_KEY, GatewayProcess, SimThread, provider_env, write_config

OPUS = "claude-opus-4-20250514"  # the vendor's id, which the simulator sees


@pytest.fixture(scope="module")
def gateway(sim: SimThread, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A gateway of this module's own (faults cool deployments down), with 2 s provider timeouts."""
    d = tmp_path_factory.mktemp("faults")
    gw = GatewayProcess(write_config(d, provider_timeout_s=2), env=provider_env(sim.base_url), workdir=d).start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


# One primary per fault (each with its first fallback and the vendor id the simulator sees), so the
# health breaker of one case never cools down the primary of the next.
@pytest.mark.parametrize(("fault", "primary", "vendor_id", "fallback"), [
    ("500", "claude-opus-4", OPUS, "claude-sonnet-4"),
    ("529", "claude-sonnet-4", "claude-sonnet-4-20250514", "gpt-4.1"),
    ("429", "gpt-4.1", "gpt-4.1", "gpt-4o"),
    ("malformed", "deepseek-v3", "deepseek/deepseek-chat-v3-0324:free", "qwen-2.5-coder"),
    ("timeout", "gemini-2.0-flash", "gemini-2.0-flash", "mistral-small"),
    ("503", "qwq-32b", "qwen/qwq-32b", "deepseek-v3"),
])
def test_fault_on_primary_falls_back(client: openai.OpenAI, fault: str, primary: str, vendor_id: str,
                                     fallback: str) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=primary, messages=ask(f"Design a queue. [[sim:error={fault}@{vendor_id}]]"))
    assert raw.headers["x-tierroute-model"] == fallback
    assert int(raw.headers["x-tierroute-attempts"]) >= 2
    assert raw.parse().choices[0].message.content


def test_stream_fault_before_first_byte_falls_back(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="claude-opus-4", stream=True,
                                            messages=ask(f"Plan a migration. [[sim:error=529@{OPUS}]]"))
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text


def test_stream_cut_midway_ends_with_error_event(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="gpt-4o", stream=True,
                                                messages=ask("Write an essay. [[sim:error=stream_cut]]")):
            pass


def test_context_window_fallback(client: openai.OpenAI) -> None:
    # ~150k tokens: too long for gpt-4o (128k), so a larger-window model answers.
    long = "word " * 150_000
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=ask(long + "Summarise."))
    model = raw.headers["x-tierroute-model"]
    assert model != "gpt-4o"
    listed = {m["id"]: m for m in client.models.list().model_dump()["data"]}
    assert listed[model]["context_window"] >= 150_000  # the model that answered can hold the prompt


def test_content_filter_is_not_retried(client: openai.OpenAI, sim: SimThread) -> None:
    before = sim.requests_to("gpt-4o")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=ask("[[sim:error=content_filter]]"))
    assert sim.requests_to("gpt-4o") == before + 1


def test_every_candidate_down_gives_one_clear_error(gateway: GatewayProcess, sim: SimThread) -> None:
    chain = ["mistral-large-latest", "mistral-small-latest"]  # mistral-large falls back to mistral-small only
    for m in chain:
        sim.set_faults(m, {"down": True})
    try:
        t0 = time.monotonic()
        r = httpx.post(gateway.url + "/v1/chat/completions", headers=gateway.headers(), timeout=60,
                       json={"model": "mistral-large", "messages": ask("hi")})
        assert time.monotonic() - t0 < 30
        assert r.status_code in (502, 503)
        msg = r.json()["error"]["message"]
        assert "mistral/mistral-large" in msg and "mistral/mistral-small" in msg
        assert int(r.headers["x-tierroute-attempts"]) >= 2 and r.headers["x-request-id"]
    finally:
        sim.reset()
