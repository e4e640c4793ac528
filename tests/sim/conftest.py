"""Fixtures for the simulator's tests.

One simulator runs for the whole session in a thread of its own (its own event loop), so the sync
SDK clients and the async ones (on the test loop) both talk to it over real HTTP on a free port.
Each test starts from a reset simulator (``POST /_sim/reset``). Models named in ``TEST_CONFIG``
carry the settings a test needs; faults are set per test through the control API.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tierroute.sim.config import SimConfig, config_from_dict
from tierroute.sim.server import SimHandle, start_background

KEY = "sk-sim-test"
TEST_CONFIG: dict[str, Any] = {
    "seed": 7,
    "models": {
        "tiny-ctx": {"context_window": 50},
        "blind": {"vision": False},
        "slow": {"latency_ms": 150},
        "paced": {"tokens_per_s": 400, "chunk_tokens": 10},
        "tight": {"rpm": 2},
        "emb-small": {"embedding_dim": 64},
    },
}


class ThreadedSim:
    """A simulator on its own event loop in a daemon thread."""

    def __init__(self, config: SimConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim", daemon=True)
        self.thread.start()
        self.handle: SimHandle = asyncio.run_coroutine_threadsafe(start_background(config), self.loop).result(
            10
        )
        self.base_url = self.handle.base_url
        self.http = httpx.Client(base_url=self.base_url, timeout=10)

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.post(path, json=body or {}) if path != "/_sim/stats" else self.http.get(path)
        r.raise_for_status()
        return r.json()

    def faults(self, model: str, **faults: Any) -> None:
        self.control(
            "/_sim/faults", {"model": model, "faults": {k.removeprefix("f"): v for k, v in faults.items()}}
        )

    def stats(self, model: str) -> dict[str, Any]:
        return self.control("/_sim/stats")["models"].get(model, {"requests": 0, "ok": 0, "errors": {}})

    def close(self) -> None:
        self.http.close()
        asyncio.run_coroutine_threadsafe(self.handle.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def sim() -> Iterator[ThreadedSim]:
    s = ThreadedSim(config_from_dict(TEST_CONFIG, "test config"))
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> None:
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").control("/_sim/reset")


@pytest.fixture
def oai(sim: ThreadedSim) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim.base_url + "/v1", api_key=KEY, max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
async def aoai(sim: ThreadedSim) -> Any:
    async with openai.AsyncOpenAI(base_url=sim.base_url + "/v1", api_key=KEY, max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
def ant(sim: ThreadedSim) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=sim.base_url, api_key=KEY, max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
async def aant(sim: ThreadedSim) -> Any:
    async with anthropic.AsyncAnthropic(base_url=sim.base_url, api_key=KEY, max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
def http(sim: ThreadedSim) -> Iterator[httpx.Client]:
    """Raw HTTP against the simulator (no auth headers set)."""
    with httpx.Client(base_url=sim.base_url, timeout=10) as c:
        yield c


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) per SSE event, split the way a strict reader splits them."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        out.append((name, "\n".join(data)))
    return out
