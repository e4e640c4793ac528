"""A minimal ``POST /v1/messages`` server: the inbound Anthropic dialect over one real adapter.

The lead's gateway mounts the same four functions with routing in between; this lets the tests
drive them with the official ``anthropic`` SDK before the gateway exists.
"""

from __future__ import annotations

from aiohttp import web

from tierroute.api.anthropic_inbound import (
    encode_message,
    error_body,
    error_status,
    stream_events,
)
from tierroute.api.anthropic_request import decode_messages
from tierroute.errors import TierrouteError
from tierroute.providers import get_adapter
from tierroute.types import CallInfo, Deployment


def _error(err: TierrouteError) -> web.Response:
    return web.Response(status=error_status(err), body=error_body(err), content_type="application/json")


def make_app(dep: Deployment) -> web.Application:
    adapter = get_adapter(dep.dialect)

    async def messages(request: web.Request) -> web.StreamResponse:
        try:
            req = decode_messages(await request.json())[0]
            if not req.stream:
                resp = await adapter.send(req, dep, CallInfo())
                return web.Response(body=encode_message(resp), content_type="application/json")
            events = stream_events(adapter.stream(req, dep, CallInfo())).__aiter__()
            first = await events.__anext__()  # errors before the first byte still get an HTTP status
        except TierrouteError as err:
            return _error(err)
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await out.prepare(request)
        await out.write(first)
        async for ev in events:
            await out.write(ev)
        await out.write_eof()
        return out

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    return app


async def start(dep: Deployment) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(make_app(dep), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"
