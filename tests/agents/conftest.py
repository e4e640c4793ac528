"""Fixtures for the agent tests: an offline `tierroute serve` (every model answered by its built-in
simulator) shared by a module, and a fresh recording server per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from recorder import Recorder  # noqa: E402

from gateway_process import GatewayProcess  # noqa: E402


@pytest.fixture(scope="module")
def offline_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(workdir=tmp_path_factory.mktemp("gw-agents")).start()
    yield gw
    gw.stop()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder().start()
    yield r
    r.stop()
