"""The /ui dashboard in headless Chromium (Debian's ``chromium``), against a real server holding a
test run's usage: the page loads the data with the master key, every chart paints, the cost-per-task
table shows the recorded numbers, and a screenshot is written."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from tcp_proxy import free_port
from usage_helpers import HOUR, priced_traffic

from tierroute.usage import UsageConfig, UsageMetrics, build_recorder, ui_routes

MASTER = "sk-master-test"


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "headless Chromium is needed: apt-get install -y chromium"
    return exe


@web.middleware
async def master_key_only(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    # Stands in for the gateway's guard: every /ui route needs the master key, as a bearer token or
    # as the password of HTTP Basic auth (what a browser's own login prompt sends).
    auth = request.headers.get("Authorization", "")
    ok = auth == f"Bearer {MASTER}" or (
        auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode().partition(":")[2] == MASTER
    )
    if not ok:
        return web.json_response({"error": {"message": "master key required", "type": "authentication_error",
                                            "param": None, "code": "invalid_api_key"}}, status=401,
                                 headers={"WWW-Authenticate": 'Basic realm="tierroute"'})  # fmt: skip
    return await handler(request)


async def _browser(url: str, tmp: Path, *extra: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'chrome-profile'}", "--hide-scrollbars", "--window-size=1400,1900",
        "--virtual-time-budget=15000", *extra, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode()


async def test_dashboard_renders_in_chromium(tmp_path: Path, settings: Any) -> None:
    rec = build_recorder(
        UsageConfig(sqlite_path=str(tmp_path / "ui.db"), spill_dir=str(tmp_path / "s")), UsageMetrics()
    )
    await rec.start()
    now = time.time()
    for shift in range(0, 6):  # six hours of the priced traffic, so the time charts have a shape
        for e in priced_traffic(settings.catalog):
            e.request_id += f"-{shift}"
            e.ts = e.ts - HOUR + now - (shift + 1) * 3600 - 3600
            rec.record(e)
    # The limits package's snapshot shape: quotas and what is used of them.
    quota = {"openai/coder": {"limits": {"rpm": 20, "rpd": 200, "tpm": None}, "used": {"rpm_used": 2, "rpd_used": 50}},
             "gemini/flash": {"limits": {"rpm": 15, "rpd": 1500}, "used": {"rpm_used": 12, "rpd_used": 300}}}  # fmt: skip
    app = web.Application(middlewares=[master_key_only])
    app.add_routes(ui_routes(rec, quota=lambda: quota))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        # Without the key the page is refused (the browser would show its login prompt): nothing drawn.
        dom = await _browser(f"http://127.0.0.1:{port}/ui", tmp_path, "--dump-dom")
        assert "data-rendered" not in dom and "<canvas" not in dom

        # The browser's login (Basic auth, master key as password) covers the page and its data.
        url = f"http://admin:{MASTER}@127.0.0.1:{port}/ui"
        dom = await _browser(url, tmp_path, "--dump-dom")
        body = re.search(r"<body[^>]*>", dom)
        assert body, dom[:500]
        attrs = dict(re.findall(r'data-([a-z]+)="([^"]*)"', body.group(0)))
        assert attrs.get("rendered") == "1", body.group(0)
        assert attrs["charts"] == "7"  # six charts + quota headroom
        assert attrs["painted"] == "7"  # ... and each painted pixels
        assert "36 requests" in dom
        rows = re.findall(
            r"<tr[^>]*><td>([^<]*)</td><td>(\d+)</td><td>([\d,]+)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>",
            dom,
        )
        table = {r[0]: r[1:] for r in rows}
        assert table["coding"] == ("12", "27,000", "$0.03500", "$0.00033", "99.0%")
        assert table["TOTAL (weighted)"][0:2] == ("36", "57,000")
        assert table["TOTAL (weighted)"][4] == "99.5%"

        # Kept where CI collects artifacts when it says so, else in the test's temp dir.
        shot_dir = Path(os.environ.get("TIERROUTE_ARTIFACTS") or tmp_path)
        shot_dir.mkdir(parents=True, exist_ok=True)
        shot = shot_dir / "usage-dashboard.png"
        shot.unlink(missing_ok=True)
        await _browser(url, tmp_path, f"--screenshot={shot}")
        assert shot.exists() and shot.stat().st_size > 50_000  # a page of charts, not a blank one
    finally:
        await runner.cleanup()
        await rec.close()
