"""Injected faults, each as its vendor shows it: status, body, headers, cut and broken streams; plus
their determinism, the rate-limit window, latency and pacing."""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import openai
import pytest

from tierroute.sim.config import config_from_dict

from .conftest import KEY, ThreadedSim, sse_events

MSGS = [{"role": "user", "content": "Explain how routers work"}]
G = {"x-goog-api-key": KEY}
GASK = {"contents": [{"role": "user", "parts": [{"text": "Explain how routers work"}]}]}


def gemini(http: httpx.Client, model: str, stream: bool = False) -> httpx.Response:
    method = "streamGenerateContent" if stream else "generateContent"
    return http.post(
        f"/v1beta/models/{model}:{method}", params={"alt": "sse"} if stream else None, json=GASK, headers=G
    )


def test_429_with_retry_after_in_each_dialect(sim: ThreadedSim, oai: openai.OpenAI, ant: anthropic.Anthropic,
                                              http: httpx.Client) -> None:  # fmt: skip
    sim.faults("*", f429=1.0, retry_after_s=3)
    with pytest.raises(openai.RateLimitError) as ei:
        oai.chat.completions.create(model="gpt-4o", messages=MSGS)
    e = ei.value
    assert e.response.headers["retry-after"] == "3" and "x-ratelimit-remaining-requests" in e.response.headers
    assert e.body["code"] == "rate_limit_exceeded" and e.body["type"] == "requests"
    assert "Please try again in 3s" in e.body["message"]
    with pytest.raises(anthropic.RateLimitError) as ai:
        ant.messages.create(model="claude-x", max_tokens=10, messages=MSGS)
    assert ai.value.response.headers["retry-after"] == "3"
    assert ai.value.body["type"] == "error" and ai.value.body["error"]["type"] == "rate_limit_error"
    r = gemini(http, "gemini-2.0-flash")
    err = r.json()["error"]
    assert r.status_code == 429 and err["code"] == 429 and err["status"] == "RESOURCE_EXHAUSTED"
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"} in err["details"]
    assert "retry-after" not in r.headers  # Gemini says it in the body only
    assert [sim.stats(m)["errors"] for m in ("gpt-4o", "claude-x", "gemini-2.0-flash")] == [{"429": 1}] * 3


@pytest.mark.parametrize("kind", ["500", "503", "529"])
def test_server_errors_in_each_dialect(sim: ThreadedSim, oai: openai.OpenAI, ant: anthropic.Anthropic,
                                       http: httpx.Client, kind: str) -> None:  # fmt: skip
    sim.faults("*", **{kind: 1.0})
    other = 500 if kind == "500" else 503  # 529 is Anthropic's alone
    with pytest.raises(openai.InternalServerError) as ei:
        oai.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert ei.value.status_code == other and ei.value.body["type"] == "server_error"
    with pytest.raises(anthropic.InternalServerError) as ai:
        ant.messages.create(model="claude-x", max_tokens=10, messages=MSGS)
    assert ai.value.status_code == int(kind)
    expected = {"500": "api_error", "503": "api_error", "529": "overloaded_error"}[kind]
    assert ai.value.body["error"]["type"] == expected
    if kind == "529":
        assert (
            isinstance(ai.value, anthropic.OverloadedError)
            and ai.value.body["error"]["message"] == "Overloaded"
        )
    r = gemini(http, "gemini-2.0-flash")
    assert r.status_code == other and r.json()["error"]["status"] == (
        "INTERNAL" if kind == "500" else "UNAVAILABLE"
    )


def test_down_fails_every_request(sim: ThreadedSim, oai: openai.OpenAI, ant: anthropic.Anthropic,
                                  http: httpx.Client) -> None:  # fmt: skip
    sim.faults("dead", down=True)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError) as ei:
            oai.chat.completions.create(model="dead", messages=MSGS)
        assert ei.value.status_code == 503
    with pytest.raises(anthropic.InternalServerError) as ai:
        ant.messages.create(model="dead", max_tokens=10, messages=MSGS)
    assert ai.value.status_code == 503
    assert gemini(http, "dead").status_code == 503
    with pytest.raises(openai.InternalServerError):
        oai.embeddings.create(model="dead", input="x")
    assert oai.chat.completions.create(model="alive", messages=MSGS).choices
    assert sim.stats("dead") == {"requests": 6, "ok": 0, "errors": {"503": 6}}


def test_timeout_hangs_then_answers(sim: ThreadedSim) -> None:
    sim.faults("sleepy", timeout=1.0, hang_s=0.4)
    impatient = openai.OpenAI(base_url=sim.base_url + "/v1", api_key=KEY, max_retries=0, timeout=0.15)
    with impatient, pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(model="sleepy", messages=MSGS)
    with openai.OpenAI(base_url=sim.base_url + "/v1", api_key=KEY, max_retries=0, timeout=5) as patient:
        start = time.monotonic()
        r = patient.chat.completions.create(model="sleepy", messages=MSGS)
        assert time.monotonic() - start >= 0.4 and r.choices[0].message.content
    assert sim.stats("sleepy")["errors"] == {"timeout": 1}  # the cancelled one never finished


def test_stream_cut_openai(sim: ThreadedSim, oai: openai.OpenAI) -> None:
    sim.faults("cut", stream_cut=1.0, stream_cut_after=3)
    got: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(model="cut", messages=MSGS, stream=True):
            got.extend(c.delta.content for c in chunk.choices if c.delta.content)
    assert len(got) == 3  # three pieces of text, then the connection dropped: no finish, no [DONE]
    with pytest.raises(openai.APIConnectionError):  # a plain answer's body is cut half-way
        oai.chat.completions.create(model="cut", messages=MSGS)
    assert sim.stats("cut")["errors"] == {"stream_cut": 2}


def test_stream_cut_anthropic_and_gemini(sim: ThreadedSim, ant: anthropic.Anthropic) -> None:
    sim.faults("*", stream_cut=1.0)
    texts: list[str] = []
    # the SDK lets its HTTP library's error through mid-stream (httpx2.RemoteProtocolError)
    with (
        pytest.raises(Exception) as ei,
        ant.messages.stream(model="claude-x", max_tokens=200, messages=MSGS) as s,
    ):  # noqa: B017
        texts.extend(e.delta.text for e in s if e.type == "content_block_delta")
    assert type(ei.value).__name__ in ("RemoteProtocolError", "APIConnectionError"), ei.value
    assert len(texts) == 2
    url = sim.base_url + "/v1beta/models/g:streamGenerateContent?alt=sse"
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("POST", url, json=GASK, headers=G) as r:
        for _ in r.iter_bytes():
            pass


def test_stream_error_events(sim: ThreadedSim, oai: openai.OpenAI, ant: anthropic.Anthropic,
                             http: httpx.Client) -> None:  # fmt: skip
    sim.faults("*", stream_error=1.0)
    n = 0
    with pytest.raises(openai.APIError) as ei:
        for _ in oai.chat.completions.create(model="gpt-4o", messages=MSGS, stream=True):
            n += 1
    assert n == 3 and "server had an error" in ei.value.message  # role chunk + 2 pieces, then the error
    with pytest.raises(anthropic.APIStatusError) as ai, ant.messages.stream(model="claude-x", max_tokens=200,
                                                                              messages=MSGS) as s:  # fmt: skip
        for _ in s:
            pass
    assert ai.value.body["error"]["type"] == "overloaded_error"
    body = {"model": "claude-x", "max_tokens": 50, "messages": MSGS, "stream": True}
    events = sse_events(
        http.post(
            "/v1/messages", json=body, headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"}
        ).text
    )
    assert events[-1][0] == "error" and "message_stop" not in [n for n, _ in events]
    last = sse_events(gemini(http, "g", stream=True).text)[-1][1]
    assert json.loads(last)["error"]["status"] == "INTERNAL"
    with pytest.raises(anthropic.InternalServerError) as ai:  # not streaming: the same failure as a status
        ant.messages.create(model="claude-x", max_tokens=10, messages=MSGS)
    assert ai.value.status_code == 529


def test_malformed_bodies(sim: ThreadedSim, http: httpx.Client, oai: openai.OpenAI) -> None:
    sim.faults("*", malformed=1.0)
    r = http.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": MSGS},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    with pytest.raises(ValueError):
        oai.chat.completions.create(model="m", messages=MSGS)
    r = gemini(http, "g", stream=True)
    with pytest.raises(json.JSONDecodeError):
        json.loads(sse_events(r.text)[0][1])
    r = http.post(
        "/v1/embeddings", json={"model": "e", "input": "x"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_directives_force_errors_for_one_model_only(oai: openai.OpenAI, sim: ThreadedSim) -> None:
    msgs = [{"role": "user", "content": "Explain routers [[sim:error=429@cheap]] [[sim:refuse@mid]]"}]
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="cheap", messages=msgs)
    assert (
        oai.chat.completions.create(model="mid", messages=msgs)
        .choices[0]
        .message.content.startswith("I'm sorry")
    )
    strong = oai.chat.completions.create(model="strong", messages=msgs).choices[0].message.content
    assert strong.startswith("[strong] answer to: Explain routers")
    with pytest.raises(openai.BadRequestError) as ei:
        oai.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x [[sim:error=context_length]]"}]
        )
    assert ei.value.code == "context_length_exceeded"
    r = oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x [[sim:error=content_filter]]"}]
    )
    assert r.choices[0].finish_reason == "content_filter"


def _outcomes(seed: int, n: int = 40) -> list[str]:
    import asyncio

    from tierroute.sim.server import start_background

    async def main() -> list[str]:
        config = config_from_dict({"seed": seed, "defaults": {"faults": {"429": 0.25, "500": 0.25}}})
        handle = await start_background(config)
        out = []
        try:
            async with httpx.AsyncClient(
                base_url=handle.base_url, headers={"Authorization": f"Bearer {KEY}"}
            ) as c:
                for i in range(n):
                    r = await c.post("/v1/chat/completions", json={"model": "m", "messages": [
                        {"role": "user", "content": f"q{i}"}]})  # fmt: skip
                    out.append(
                        str(r.status_code)
                        + (r.json()["choices"][0]["message"]["content"] if r.is_success else "")
                    )
        finally:
            await handle.close()
        return out

    return asyncio.run(main())


def test_same_seed_same_faults_and_answers() -> None:
    a, b, c = _outcomes(1), _outcomes(1), _outcomes(2)
    assert a == b
    assert a != c
    statuses = [o[:3] for o in a]
    assert {"200", "429", "500"} <= set(statuses)


def test_stats_reset_and_the_control_api(sim: ThreadedSim, oai: openai.OpenAI, http: httpx.Client) -> None:
    oai.chat.completions.create(model="counted", messages=MSGS)
    sim.faults("counted", f500=1.0)
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="counted", messages=MSGS)
    assert sim.stats("counted") == {"requests": 2, "ok": 1, "errors": {"500": 1}}
    recent = http.get("/_sim/requests").json()["requests"]
    assert recent[-1]["model"] == "counted" and recent[-1]["body"]["messages"] == MSGS
    assert recent[-1]["dialect"] == "openai"
    sim.faults("*", f429=1.0)
    sim.faults("counted", f429=0.0, f500=0.0)  # a model's own faults win over "*"
    assert oai.chat.completions.create(model="counted", messages=MSGS).choices
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="other", messages=MSGS)
    r = http.post("/_sim/faults", json={"model": "x", "faults": {"explode": 1}})
    assert r.status_code == 400 and "unknown fault 'explode'" in r.json()["error"]
    r = http.post("/_sim/faults", json={"model": "x", "faults": {"429": 2}})
    assert r.status_code == 400 and "between 0 and 1" in r.json()["error"]
    assert http.post("/_sim/faults", json={"faults": {}}).status_code == 400
    sim.control("/_sim/reset")
    assert sim.control("/_sim/stats") == {"models": {}}
    assert oai.chat.completions.create(model="other", messages=MSGS).choices  # the faults are gone too


def test_rate_limit_window(oai: openai.OpenAI) -> None:
    for left in (1, 0):
        raw = oai.chat.completions.with_raw_response.create(model="tight", messages=MSGS)
        assert raw.headers["x-ratelimit-remaining-requests"] == str(left)
    with pytest.raises(openai.RateLimitError) as ei:
        oai.chat.completions.create(model="tight", messages=MSGS)
    assert int(ei.value.response.headers["retry-after"]) >= 1
    assert ei.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_latency_and_pacing(oai: openai.OpenAI) -> None:
    start = time.monotonic()
    oai.chat.completions.create(model="slow", messages=MSGS)
    assert time.monotonic() - start >= 0.15
    start = time.monotonic()
    chunks = [c for c in oai.chat.completions.create(model="paced", messages=MSGS, stream=True)
              if c.choices and c.choices[0].delta.content]  # fmt: skip
    assert time.monotonic() - start >= 0.9 * len(chunks) * (10 / 400)
    assert all(len(c.choices[0].delta.content) <= 40 for c in chunks)
