from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tierroute.providers import close_http
from tierroute.types import Deployment

from .upstream import Upstream

KEY = "sk-test-SECRETKEY-0123456789abcdef"


@pytest.fixture(scope="session")
async def _upstream_server() -> AsyncIterator[Upstream]:
    up = Upstream()
    await up.start()
    yield up
    await up.close()


@pytest.fixture(scope="session", autouse=True)
async def _close_pool() -> AsyncIterator[None]:
    yield
    await close_http()


@pytest.fixture
async def upstream(_upstream_server: Upstream) -> Upstream:
    _upstream_server.replies.clear()
    _upstream_server.seen.clear()
    _upstream_server.default = None
    return _upstream_server


@pytest.fixture(scope="session")
async def sim() -> AsyncIterator[object]:
    from tierroute.sim.config import config_from_dict
    from tierroute.sim.server import start_background

    # only our key is accepted, so a wrong key really is refused
    handle = await start_background(config_from_dict({"api_keys": [KEY]}), "127.0.0.1", port=0)
    yield handle
    await handle.close()


def dep(dialect: str, base_url: str, *, upstream_model: str | None = None, timeout_s: float = 10.0,
        api_key: str = KEY) -> Deployment:
    model = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4", "gemini": "gemini-2.0-flash"}[dialect]
    provider = {"openai": "openai", "anthropic": "anthropic", "gemini": "google"}[dialect]
    if dialect == "openai":
        base_url = base_url + "/v1"
    return Deployment(id=f"{provider}/{model}", model=model, provider=provider, dialect=dialect,  # type: ignore[arg-type]
                      base_url=base_url, upstream_model=upstream_model or {
                          "openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-20250514",
                          "gemini": "gemini-2.0-flash"}[dialect],
                      api_key=api_key, timeout_s=timeout_s)
