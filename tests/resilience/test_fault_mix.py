"""Faults never reach the agent: the primary model answers 20% 429s, 5% 500s and 2% timeouts, a
healthy fallback is configured, and the client sees no error, under sustained load with flat memory."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from gateway_process import GatewayProcess, SimThread, provider_env, write_config

PRIMARY, VENDOR_ID, FALLBACK = "gpt-4.1", "gpt-4.1", "gpt-4o"
FAULT_MIX = {"429": 0.20, "500": 0.05, "timeout": 0.02, "hang_s": 5, "retry_after_s": 1}


@pytest.fixture(scope="module")
def gateway(sim: SimThread, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    d = tmp_path_factory.mktemp("faultmix")
    (d / "rate_limits.yaml").write_text("providers: {}\n")  # only the vendor's faults hold traffic back
    cfg = write_config(d, {"rate_limits": str(d / "rate_limits.yaml"), "cache": {"enabled": False},
                           "server": {"request_timeout_s": 20}}, provider_timeout_s=1.0)
    gw = GatewayProcess(cfg, env=provider_env(sim.base_url), workdir=d).start()
    sim.set_faults(VENDOR_ID, FAULT_MIX)
    yield gw
    sim.reset()
    gw.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def drive(gw: GatewayProcess, seconds: float, concurrency: int, stream_every: int = 4
                ) -> tuple[Counter[int], Counter[str], list[float]]:
    statuses: Counter[int] = Counter()
    answered_by: Counter[str] = Counter()
    rss: list[float] = []
    deadline = time.monotonic() + seconds
    n = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal n
        while time.monotonic() < deadline:
            n += 1
            body = {"model": PRIMARY, "messages": [{"role": "user", "content": f"Question {n}: what is {n} + 1?"}],
                    "max_tokens": 32}
            if n % stream_every == 0:
                body["stream"] = True
                async with client.stream("POST", "/v1/chat/completions", json=body) as r:
                    text = "".join([line async for line in r.aiter_lines()])
                    ok = r.status_code == 200 and "[DONE]" in text and '"error"' not in text
                    statuses[200 if ok else (r.status_code if r.status_code != 200 else 599)] += 1
                    answered_by[r.headers.get("x-tierroute-model", "?")] += 1
            else:
                r = await client.post("/v1/chat/completions", json=body)
                statuses[r.status_code] += 1
                answered_by[r.headers.get("x-tierroute-model", "?")] += 1

    async def sample() -> None:
        while time.monotonic() < deadline:
            rss.append(rss_mb(gw.proc.pid))  # type: ignore[union-attr]
            await asyncio.sleep(0.5)

    async with httpx.AsyncClient(base_url=gw.url, headers=gw.headers(), timeout=30) as client:
        await asyncio.gather(sample(), *(worker(client) for _ in range(concurrency)))
    return statuses, answered_by, rss


async def test_fault_mix_yields_zero_client_errors(gateway: GatewayProcess, sim: SimThread) -> None:
    statuses, answered_by, _ = await drive(gateway, seconds=8, concurrency=8)
    total = sum(statuses.values())
    assert total >= 100
    assert statuses == Counter({200: total}), statuses
    # The faults really happened upstream, and the fallback really carried traffic.
    errors = sim.stats()["models"][VENDOR_ID]["errors"]
    assert errors.get("429", 0) > 0 and errors.get("500", 0) > 0
    assert answered_by[FALLBACK] > 0 and answered_by[PRIMARY] > 0


async def test_sustained_load_under_faults_keeps_memory_flat(gateway: GatewayProcess) -> None:
    statuses, _, rss = await drive(gateway, seconds=20, concurrency=16)
    assert set(statuses) == {200}, statuses
    warm = rss[len(rss) // 3]
    assert max(rss[len(rss) // 3:]) - warm < 20, f"RSS grew from {warm:.1f} MB: {rss}"
