"""Shared fixtures: the simulator and a gateway process wired to it (see gateway_process.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from gateway_process import MASTER_KEY, GatewayProcess, SimThread, provider_env  # noqa: E402


@pytest.fixture(scope="session")
def sim() -> Iterator[SimThread]:
    s = SimThread().start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def gateway(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The shipped config/tierroute.yaml, every provider pointed at the simulator."""
    gw = GatewayProcess(env=provider_env(sim.base_url), workdir=tmp_path_factory.mktemp("gw")).start()
    yield gw
    gw.stop()


@pytest.fixture
def master_key() -> str:
    return MASTER_KEY
