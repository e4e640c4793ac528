"""Item 5 of issue 12: while PostgreSQL is away the report endpoints answer 503 with a clear JSON
error (chat keeps working), and the first report after it is back succeeds: no stale connection
error. `tierroute serve` on the simulator, PostgreSQL behind a TCP proxy the test cuts."""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_process import GatewayProcess, SimThread, provider_env, write_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "usage"))
from tcp_proxy import TCPProxy  # noqa: E402
from usage_helpers import PG_URL, drop_prefix  # noqa: E402

REPORTS = ("/admin/usage", "/admin/usage?by=key", "/admin/usage/savings", "/admin/usage/latency",
           "/admin/usage/dashboard", "/ui/data")


class ProxyThread:
    """The TCP proxy on an event loop of its own, driven from a synchronous test."""

    def __init__(self, target_port: int) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.proxy = TCPProxy(target_port)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        self.run(self.proxy.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def setup(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, ProxyThread]]:
    proxy = ProxyThread(int(PG_URL.rsplit(":", 1)[1].split("/")[0]))
    proxy.run(proxy.proxy.start())
    prefix = f"t_{uuid.uuid4().hex[:10]}_"
    url = PG_URL.replace(PG_URL.split("@")[1].split("/")[0], f"127.0.0.1:{proxy.proxy.port}")
    d = tmp_path_factory.mktemp("reports-down")
    cfg = write_config(d, {"usage": {"database_url": url, "table_prefix": prefix, "connect_timeout_s": 1}})
    g = GatewayProcess(cfg, env=provider_env(sim.base_url), workdir=d).start()
    yield g, proxy
    g.stop()
    proxy.close()
    asyncio.run(drop_prefix(prefix))


def chat(g: GatewayProcess, text: str) -> httpx.Response:
    return httpx.post(g.url + "/v1/chat/completions", headers=g.headers(), timeout=30,
                      json={"model": "gpt-4o", "messages": [{"role": "user", "content": text}]})


def test_reports_503_while_down_and_work_on_first_call_after(setup: tuple[GatewayProcess, ProxyThread]) -> None:
    g, proxy = setup
    assert chat(g, "before the outage").status_code == 200
    for path in REPORTS:  # every report has a live reader connection now
        assert httpx.get(g.url + path, headers=g.headers(), timeout=30).status_code == 200, path

    proxy.run(proxy.proxy.stop())  # the database goes away: live connections cut, new ones refused
    assert chat(g, "during the outage").status_code == 200  # chat degrades, it does not fail
    for path in REPORTS:
        r = httpx.get(g.url + path, headers=g.headers(), timeout=30)
        assert r.status_code == 503, (path, r.status_code, r.text[:300])
        err = r.json()["error"]
        assert err["code"] == "usage_store_unavailable" and "usage store is unavailable" in err["message"]
        assert r.headers["retry-after"]

    proxy.run(proxy.proxy.start())  # ... and comes back
    for path in REPORTS:  # the very first call of each: no stale-connection error
        r = httpx.get(g.url + path, headers=g.headers(), timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    rows = httpx.get(g.url + "/admin/usage?by=all", headers=g.headers(), timeout=30).json()["data"]
    assert rows and rows[0]["requests"] >= 2  # the record made during the outage arrived


def test_first_report_after_a_restart_it_did_not_see(setup: tuple[GatewayProcess, ProxyThread]) -> None:
    # The reader connection is live, the database restarts between two reports: the next report
    # meets a dead connection first and must still answer.
    g, proxy = setup
    assert httpx.get(g.url + "/admin/usage", headers=g.headers(), timeout=30).status_code == 200
    proxy.run(proxy.proxy.stop())
    proxy.run(proxy.proxy.start())
    for path in REPORTS:
        r = httpx.get(g.url + path, headers=g.headers(), timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
