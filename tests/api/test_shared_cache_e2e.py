"""Two gateway instances behind one Redis share one response cache: an answer stored through one is a
hit through the other, and never for another tenant."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from gateway_process import GatewayProcess, SimThread, provider_env, write_config


@pytest.fixture(scope="module")
def pair(sim: SimThread, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    prefix = f"tierroute-test-{os.getpid()}:cache"
    gws = []
    for name in ("a", "b"):
        d = tmp_path_factory.mktemp(f"shared-{name}")
        cfg = write_config(d, {"cache": {"backend": "redis", "redis_url": "redis://127.0.0.1:6379/0",
                                         "redis_prefix": prefix}})
        gws.append(GatewayProcess(cfg, env=provider_env(sim.base_url), workdir=d).start())
    yield gws
    httpx.post(gws[0].url + "/admin/cache/purge", json={"all": True}, headers=gws[0].headers())
    for g in gws:
        g.stop()


def ask(gw: GatewayProcess, text: str) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers=gw.headers(), timeout=30,
                      json={"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "temperature": 0})


def stored_on(gw: GatewayProcess, q: str) -> None:
    """Wait until gw answers q from cache: the store runs detached from the first response."""
    for _ in range(50):
        if ask(gw, q).headers["x-tierroute-cache"] == "hit-exact":
            return
        time.sleep(0.05)
    raise AssertionError("the answer was never stored")


def test_answer_stored_by_one_instance_hits_on_the_other(pair: list[GatewayProcess]) -> None:
    a, b = pair
    q = "How many bytes are in a kibibyte? (shared cache)"
    first = ask(a, q)
    assert first.headers["x-tierroute-cache"] == "miss"
    stored_on(a, q)
    second = ask(b, q)  # b's very first sight of the question
    assert second.headers["x-tierroute-cache"] == "hit-exact"
    assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]


def test_purge_through_one_instance_empties_both(pair: list[GatewayProcess]) -> None:
    a, b = pair
    q = "What is the boiling point of water at sea level? (shared purge)"
    ask(a, q)
    stored_on(a, q)
    assert ask(b, q).headers["x-tierroute-cache"] == "hit-exact"
    purged = httpx.post(b.url + "/admin/cache/purge", json={"model": "gpt-4o"}, headers=b.headers()).json()
    assert purged["purged"] >= 1
    assert ask(a, q).headers["x-tierroute-cache"] == "miss"
