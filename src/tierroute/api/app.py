"""The aiohttp application: routes, the gateway's lifecycle, and serving."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from tierroute.api import chat, feedback, health, messages, models, responses
from tierroute.api.auth import guarded
from tierroute.api.browser_guard import browser_guard, cors_headers
from tierroute.api.errors import recursion_guard
from tierroute.api.framework_errors import json_errors
from tierroute.api.keys import GATEWAY
from tierroute.gateway import Gateway

log = logging.getLogger("tierroute")


def create_app(gw: Gateway) -> web.Application:
    max_body = int(gw.settings.gateway.server.max_body_mb * 1024 * 1024)
    server = gw.settings.gateway.server
    # json_errors outermost, so the guard's refusals and the framework's own are both JSON.
    guard = browser_guard(server.cors_origins, open_gateway=not gw.master_key)
    app = web.Application(client_max_size=max_body, handler_args={"max_field_size": 16384},
                          middlewares=[json_errors, guard, recursion_guard])
    app.on_response_prepare.append(cors_headers)
    app[GATEWAY] = gw
    app.router.add_post("/v1/chat/completions", chat.chat_completions)
    app.router.add_post("/chat/completions", chat.chat_completions)
    app.router.add_post("/v1/messages", messages.messages)
    app.router.add_post("/v1/responses", responses.create)
    app.router.add_post("/responses", responses.create)
    app.router.add_get("/v1/responses/{id}", responses.retrieve)
    app.router.add_delete("/v1/responses/{id}", responses.delete)
    app.router.add_get("/v1/responses/{id}/input_items", responses.input_items)
    app.router.add_post("/v1/messages/count_tokens", messages.count_tokens)
    app.router.add_post("/v1/embeddings", models.embeddings)
    app.router.add_get("/v1/models", models.list_models)
    app.router.add_get("/v1/models/{id:.+}", models.get_model)
    app.router.add_post("/v1/feedback", feedback.feedback)
    app.router.add_get("/health/liveness", health.liveness)
    app.router.add_get("/health/readiness", guarded(health.readiness))
    app.router.add_get("/health", guarded(health.health))
    for mount in gw.extra_routes():
        app.router.add_routes([web.RouteDef(r.method, r.path, guarded(r.handler, browser=r.path.startswith("/ui")),
                                            r.kwargs) for r in mount])

    async def lifecycle(app: web.Application):  # type: ignore[no-untyped-def]
        await gw.start()
        yield
        await gw.close()

    app.cleanup_ctx.append(lifecycle)
    return app


async def serve(gw: Gateway, host: str, port: int, banner: bool = True) -> None:
    """Run until SIGINT/SIGTERM, then shut down gracefully (usage records flushed)."""
    app = create_app(gw)
    # handler_cancellation: a client that disconnects cancels its request, and with it the upstream call
    # (execution gives the quota slot back and the request is recorded as ClientClosed, status 499).
    runner = web.AppRunner(app, access_log=log if gw.settings.gateway.server.access_log else None,
                           handle_signals=False, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048, reuse_address=True)
    await site.start()
    if banner:
        print(gw.banner(host, port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
