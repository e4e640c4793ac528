"""Shared pieces of the end-to-end dialect tests: a simulator and a gateway process of a module's
own (so the simulator's recorded requests are that module's alone), and reading those records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_process import MASTER_KEY, GatewayProcess, SimThread, provider_env, write_config

ROOT = Path(__file__).resolve().parent.parent.parent
AGENT_FIXTURES = ROOT / "tests" / "fixtures" / "agents"
CLIENT_KEY = MASTER_KEY
# The dummy keys provider_env gives each provider: what the upstream must see instead of the client's.
PROVIDER_KEYS = {"anthropic": "sk-test-anthropic", "openai": "sk-test-openai", "gemini": "sk-test-gemini"}


@contextmanager
def sim_and_gateway(directory: Path, overrides: dict[str, Any] | None = None
                    ) -> Iterator[tuple[SimThread, GatewayProcess]]:
    """A simulator and a `tierroute serve` wired to it, the response cache off (every request must
    reach the simulator to be checked there), and no provider quotas."""
    sim = SimThread().start()
    directory.mkdir(parents=True, exist_ok=True)
    limits = directory / "rate_limits.yaml"  # no quotas: Claude Code's 12k-token prompts would spend tpm
    limits.write_text("providers: {}\ndeployments: {}\n")
    config = write_config(directory, {"cache": {"enabled": False}, "rate_limits": str(limits), **(overrides or {})})
    gw = GatewayProcess(config, env=provider_env(sim.base_url), workdir=directory)
    try:
        gw.start()
        yield sim, gw
    finally:
        gw.stop()
        sim.stop()


def module_stack() -> tuple[Any, Any, Any]:
    """The ``env``, ``sim`` and ``gw`` fixtures of one test module (``env, sim, gw = module_stack()``):
    a simulator and gateway of the module's own, so the simulator's records are that module's alone."""

    @pytest.fixture(scope="module")
    def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[SimThread, GatewayProcess]]:
        with sim_and_gateway(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])) as pair:
            yield pair

    @pytest.fixture(scope="module")
    def sim(env: tuple[SimThread, GatewayProcess]) -> SimThread:
        return env[0]

    @pytest.fixture(scope="module")
    def gw(env: tuple[SimThread, GatewayProcess]) -> GatewayProcess:
        return env[1]

    return env, sim, gw


def auth(key: str = CLIENT_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def recorded(sim: SimThread) -> list[dict[str, Any]]:
    return httpx.get(f"{sim.base_url}/_sim/requests", timeout=10).json()["requests"]


def recorded_to(sim: SimThread, path: str) -> list[dict[str, Any]]:
    """The recorded requests whose path starts with ``path``, oldest first."""
    return [r for r in recorded(sim) if r["path"].startswith(path)]


def last_to(sim: SimThread, path: str) -> dict[str, Any]:
    reqs = recorded_to(sim, path)
    assert reqs, f"the simulator received nothing on {path}: {[r['path'] for r in recorded(sim)]}"
    return reqs[-1]


def lower_headers(entry: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in entry["headers"].items()}


def agent_fixture(name: str) -> dict[str, Any]:
    return json.loads((AGENT_FIXTURES / name).read_text())


def client_headers(captured: dict[str, str], key: str = CLIENT_KEY) -> dict[str, str]:
    """A captured agent's headers as it would send them to this gateway: the client key in place of
    REDACTED, and without the transport headers of the original connection."""
    out = {}
    for name, value in captured.items():
        if name in ("host", "content-length", "connection", "accept-encoding"):
            continue
        if value == "REDACTED":
            value = f"Bearer {key}" if name == "authorization" else key
        out[name] = value
    return out


def sse_events(text: str) -> list[tuple[str | None, Any]]:
    """(event name, decoded data) for each SSE event of a body; data that is not JSON stays text."""
    out: list[tuple[str | None, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if not data and event is None:
            continue
        raw = "\n".join(data)
        try:
            out.append((event, json.loads(raw)))
        except ValueError:
            out.append((event, raw))
    return out


def dropped(response: httpx.Response) -> set[str]:
    """The names in X-Tierroute-Dropped (empty when the header is absent)."""
    value = response.headers.get("x-tierroute-dropped", "")
    return {p.strip() for p in value.split(",") if p.strip()}
