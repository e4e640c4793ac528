"""End to end on the simulator: two `tierroute serve` processes sharing one Redis keep a session on
the deployment its cache is warm on (the gateway calls ``Router.note_answer`` after each upstream
answer)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from affinity_helpers import REDIS_URL

from gateway_process import GatewayProcess, SimThread, provider_env, write_config

PREFIX = "You are a careful assistant. " * 600  # ~4,200 tokens: OpenAI caches it by itself


def body(model: str, user: str, turns: int) -> dict:
    msgs = [{"role": "system", "content": PREFIX}, {"role": "user", "content": "Say hi."}]
    for i in range(turns):
        msgs += [{"role": "assistant", "content": f"hi {i}"}, {"role": "user", "content": f"again {i}"}]
    return {"model": model, "messages": msgs, "max_tokens": 16, "user": user}


async def test_two_gateways_on_one_redis_keep_a_session_warm(sim: SimThread, tmp_path: Path,
                                                            redis_prefix: str) -> None:
    cfg = write_config(tmp_path, {"limits": {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}},
                       provider_timeout_s=5)
    a = GatewayProcess(cfg, env=provider_env(sim.base_url), workdir=tmp_path).start()
    b = GatewayProcess(cfg, env=provider_env(sim.base_url), workdir=tmp_path).start()
    session = f"e2e-{uuid.uuid4().hex[:8]}"
    try:
        async with httpx.AsyncClient(timeout=30) as c:
            async def ask(gw: GatewayProcess, model: str, turns: int, user: str = session) -> httpx.Response:
                r = await c.post(f"{gw.url}/v1/chat/completions", json=body(model, user, turns), headers=gw.headers())
                assert r.status_code == 200, r.text
                return r

            # Without a warm cache the premium tier starts with claude-sonnet-4.
            cold = await ask(b, "premium", 0, user=f"other-{session}")
            assert cold.headers["X-Tierroute-Model"] == "claude-sonnet-4"
            # Turn 1 names gpt-4.1 on gateway a: its cache is now warm there.
            r1 = await ask(a, "gpt-4.1", 0)
            assert r1.headers["X-Tierroute-Model"] == "gpt-4.1"
            # Turns 2.. ask for the tier, alternately on b and a: the session stays on gpt-4.1, and the
            # simulator reads the prefix from its cache.
            for turn, gw in enumerate([b, a, b], start=1):
                r = await ask(gw, "premium", turn)
                assert r.headers["X-Tierroute-Model"] == "gpt-4.1", r.headers
                assert r.headers["X-Tierroute-Route"] == "tier:premium +affinity:warm"
                cached = r.json()["usage"].get("prompt_tokens_details", {}).get("cached_tokens", 0)
                assert cached >= 1024, r.json()["usage"]
    finally:
        a.stop()
        b.stop()
