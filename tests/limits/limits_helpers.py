"""Helpers shared by the limits tests (a module of its own so spawned processes can import it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tierroute.types import Deployment

REDIS_URL = os.environ.get("TIERROUTE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def dep(dep_id: str) -> Deployment:
    provider, model = dep_id.split("/", 1)
    return Deployment(id=dep_id, model=model, provider=provider, dialect="openai",
                      base_url="http://127.0.0.1:9/v1", upstream_model=model, api_key="sk-secret-never-logged")


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, s: float) -> None:
        self.now += s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SpareRedis:
    """A redis-server of our own, so a test can stop it without touching the shared one."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is required for the Redis outage test and is not on PATH")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 5
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail(f"spare redis-server on port {self.port} did not start")
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None


def hammer(redis_url: str, prefix: str, dep_id: str, rpm: int, n: int, ready_q, go_evt, out_q) -> None:
    """One gateway-like process: its own Limits on the shared Redis, firing ``n`` acquires at once
    when told to; reports how many passed."""
    import asyncio

    from tierroute.errors import QuotaExhausted
    from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits

    async def main() -> int:
        cfg = LimitsConfig(redis_url=redis_url, redis_prefix=prefix, state_path=None)
        limits, _ = build_limits(cfg, parse_rate_limits({"deployments": {dep_id: {"rpm": rpm, "tpm": rpm * 1000}}}))
        await limits.start()
        assert limits.state.shared
        ready_q.put(True)
        await asyncio.to_thread(go_evt.wait, 20)
        passed = 0

        async def one() -> None:
            nonlocal passed
            try:
                lease = await limits.acquire(dep(dep_id), 50)
            except QuotaExhausted:
                return
            passed += 1
            await limits.release(lease, total_tokens=40)

        for _ in range(0, n, 10):  # waves, so both processes are at it at the same time
            await asyncio.gather(*(one() for _ in range(10)))
            await asyncio.sleep(0.005)
        await limits.close()
        return passed

    out_q.put(asyncio.run(main()))
