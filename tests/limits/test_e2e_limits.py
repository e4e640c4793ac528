"""End to end through `tierroute serve` subprocesses and the simulator: quotas shared by two
gateways on one Redis, a daily quota across a gateway restart, Redis stopped under traffic, and a
cooled-down deployment that gets no traffic, then one probe, then traffic again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from limits_helpers import REDIS_URL, SpareRedis

from gateway_process import GatewayProcess, SimThread, provider_env, write_config

FLASH = "gemini-2.0-flash"  # gemini/gemini-2.0-flash; its fallback chain is [mistral-small]


def rate_file(d: Path, text: str) -> str:
    d.mkdir(parents=True, exist_ok=True)
    p = d / "rate_limits.yaml"
    p.write_text(text)
    return str(p)


def body(text: str = "Say hi.") -> dict:
    return {"model": FLASH, "messages": [{"role": "user", "content": text}], "max_tokens": 16}


async def ask(client: httpx.AsyncClient, gw: GatewayProcess, text: str = "Say hi.") -> httpx.Response:
    return await client.post(f"{gw.url}/v1/chat/completions", json=body(text), headers=gw.headers(), timeout=30)


def start(d: Path, sim: SimThread, overrides: dict, n: int = 1) -> list[GatewayProcess]:
    cfg = write_config(d, overrides, provider_timeout_s=5)
    return [GatewayProcess(cfg, env=provider_env(sim.base_url), workdir=d).start() for _ in range(n)]


async def test_two_gateways_on_one_redis_pass_exactly_the_limit(
        sim: SimThread, tmp_path: Path, redis_prefix: str) -> None:
    rl = rate_file(tmp_path, "deployments:\n  gemini/gemini-2.0-flash: {rpm: 10}\n"
                             "  mistral/mistral-small: {rpm: 5}\n")
    gws = start(tmp_path, sim, {"rate_limits": rl, "limits": {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}},
                n=2)
    try:
        async with httpx.AsyncClient() as c:
            rs: list[httpx.Response] = []
            for wave in range(8):  # 40 requests, spread over both gateways, 5 at a time
                rs += await asyncio.gather(*(ask(c, gws[(wave + i) % 2], f"hi {wave}.{i}") for i in range(5)))
        served = Counter(r.headers.get("x-tierroute-model") for r in rs if r.status_code == 200)
        refused = [r for r in rs if r.status_code == 429]
        assert served[FLASH] == 10, served
        assert served["mistral-small"] == 5, served  # the router moved on to the next candidate
        assert len(refused) == 25, [r.status_code for r in rs]
        err = refused[0].json()["error"]
        assert err["type"] == "rate_limit_error"
        assert 1 <= int(refused[0].headers["retry-after"]) <= 66
    finally:
        for g in gws:
            g.stop()


async def test_daily_quota_survives_a_gateway_restart(sim: SimThread, tmp_path: Path) -> None:
    rl = rate_file(tmp_path, "deployments:\n  gemini/gemini-2.0-flash: {rpd: 3, daily_reset: '00:00 America/Los_Angeles'}\n")
    overrides = {"rate_limits": rl, "limits": {"state_path": str(tmp_path / "limits.db")}}
    (gw,) = start(tmp_path, sim, overrides)
    try:
        async with httpx.AsyncClient() as c:
            models = [(await ask(c, gw, f"q{i}")).headers.get("x-tierroute-model") for i in range(3)]
        assert models == [FLASH] * 3
    finally:
        gw.stop()
    (gw,) = start(tmp_path, sim, overrides)
    try:
        async with httpx.AsyncClient() as c:
            r = await ask(c, gw, "after restart")
            assert r.status_code == 200
            assert r.headers["x-tierroute-model"] == "mistral-small"
            h = (await c.get(f"{gw.url}/health", headers=gw.headers())).json()
        flash = next(e for e in h["deployments"] if e["deployment"] == "gemini/gemini-2.0-flash")
        assert flash["quota"]["available"] is False and "rpd limit 3" in flash["quota"]["why"]
    finally:
        gw.stop()


async def test_redis_stopped_under_traffic_fails_no_request(
        sim: SimThread, tmp_path: Path, spare_redis: SpareRedis) -> None:
    rl = rate_file(tmp_path, "deployments:\n  gemini/gemini-2.0-flash: {rpm: 100000}\n")
    (gw,) = start(tmp_path, sim, {"rate_limits": rl, "limits": {"redis_url": spare_redis.url, "redis_retry_s": 0.2}})
    try:
        async with httpx.AsyncClient() as c:
            for i in range(5):
                assert (await ask(c, gw, f"a{i}")).status_code == 200
            spare_redis.stop()
            rs = await asyncio.gather(*(ask(c, gw, f"b{i}") for i in range(20)))
            assert [r.status_code for r in rs] == [200] * 20
            ready = (await c.get(f"{gw.url}/health/readiness", headers=gw.headers())).json()
            assert ready["stores"]["limits"]["shared"] is False
            assert "unreachable" in ready["stores"]["limits"]["detail"]
            assert "unreachable" in gw.log()

            spare_redis.start()
            deadline = time.monotonic() + 10
            while True:
                ready = (await c.get(f"{gw.url}/health/readiness", headers=gw.headers())).json()
                if ready["stores"]["limits"]["shared"]:
                    break
                assert time.monotonic() < deadline, "sharing did not resume"
                await asyncio.sleep(0.1)
            assert "sharing resumed" in gw.log()
            assert (await ask(c, gw, "c")).status_code == 200
        r = aioredis.Redis(port=spare_redis.port, decode_responses=True)
        counts = await r.hgetall("tierroute:q:{gemini/gemini-2.0-flash}:rpm")
        await r.aclose()
        assert sum(int(v) for v in counts.values()) == 1  # the fresh Redis counted the request after
    finally:
        gw.stop()


async def test_cooled_down_deployment_gets_no_traffic_then_one_probe_then_traffic(
        sim: SimThread, tmp_path: Path) -> None:
    overrides = {"limits": {"consecutive_failures": 2, "cooldown_base_s": 1.5, "state_path": None},
                 "retry": {"max_retries": 0}}
    (gw,) = start(tmp_path, sim, overrides)
    try:
        async with httpx.AsyncClient() as c:
            sim.set_faults(FLASH, {"down": True})
            try:
                for i in range(2):
                    r = await ask(c, gw, f"down {i}")
                    assert r.status_code == 200 and r.headers["x-tierroute-model"] == "mistral-small"
                h = (await c.get(f"{gw.url}/health", headers=gw.headers())).json()
                flash = next(e for e in h["deployments"] if e["deployment"] == "gemini/gemini-2.0-flash")
                assert flash["state"] == "open" and "2 consecutive failures" in flash["why"]
                before = sim.requests_to(FLASH)
                for i in range(5):  # cooled down: not one of these reaches it
                    r = await ask(c, gw, f"cool {i}")
                    assert r.status_code == 200 and r.headers["x-tierroute-model"] == "mistral-small"
                assert sim.requests_to(FLASH) == before
            finally:
                sim.set_faults(FLASH, {"down": False})
            await asyncio.sleep(1.6)
            models = [(await ask(c, gw, f"back {i}")).headers.get("x-tierroute-model") for i in range(5)]
            assert sim.requests_to(FLASH) == before + 5
            assert models == [FLASH] * 5  # the first was the probe; it closed the breaker
            h = (await c.get(f"{gw.url}/health", headers=gw.headers())).json()
            flash = next(e for e in h["deployments"] if e["deployment"] == "gemini/gemini-2.0-flash")
            assert flash["state"] == "closed"
    finally:
        gw.stop()


@pytest.fixture(autouse=True)
def _clean_sim_faults(sim: SimThread):  # noqa: ANN202
    yield
    sim.set_faults(FLASH, {"down": False})
