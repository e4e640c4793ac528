"""Fixtures for the agent tests: an offline `tierroute serve` (every model answered by its built-in
simulator) and a recording server, each fresh for every test.

A gateway per test, not per module: one Claude Code request is ~13k tokens, and the shipped
rate_limits.yaml holds each Anthropic deployment to 38,000 tokens a minute (Anthropic's tier 1), which
the simulated deployments keep too, so tests sharing one gateway would spend each other's quota."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from recorder import Recorder  # noqa: E402

from gateway_process import GatewayProcess  # noqa: E402


@pytest.fixture
def offline_gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    (tmp_path / "gateway").mkdir()
    gw = GatewayProcess(workdir=tmp_path / "gateway").start()
    yield gw
    gw.stop()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder().start()
    yield r
    r.stop()
