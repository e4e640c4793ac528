"""The simulator's HTTP server: one aiohttp application serving the OpenAI (chat completions and
Responses), Anthropic and Gemini dialects on one root (their paths do not collide), plus the
control API under ``/_sim``; every request is recorded as received (``recording.py``).

``create_app`` builds the application, ``start_background`` runs it on the caller's event loop
(tests, the gateway's offline mode), ``run`` is the blocking ``tierroute simulate`` entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from tierroute.sim.answer import Prompt, tokens
from tierroute.sim.anthropic_wire import AnthropicDialect
from tierroute.sim.config import SimConfig, load_sim_config
from tierroute.sim.gemini_wire import GeminiDialect
from tierroute.sim.openai_wire import OpenAIDialect
from tierroute.sim.pipeline import (
    JSON,
    MAX_BODY,
    auth,
    body_or_error,
    decide,
    error_response,
    model_of,
    read_body,
    send_json,
    serve_chat,
)
from tierroute.sim.recording import record
from tierroute.sim.responses_parse import parse as parse_responses
from tierroute.sim.responses_wire import ResponsesDialect
from tierroute.sim.state import STATE, SimState
from tierroute.sim.wire import SimError, decode, encode

OPENAI, ANTHROPIC, GEMINI = OpenAIDialect(), AnthropicDialect(), GeminiDialect()
RESPONSES = ResponsesDialect()
DEFAULT_MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-20250514", "claude-opus-4-20250514",
                  "gemini-2.0-flash", "text-embedding-3-small"]  # fmt: skip

# ---------------------------------------------------------------------------- OpenAI


async def openai_chat(request: web.Request) -> web.StreamResponse:
    body = await body_or_error(request, OPENAI)
    return await serve_chat(request, OPENAI, model_of(body), body, OPENAI.parse_chat)


async def openai_responses(request: web.Request) -> web.StreamResponse:
    body = await body_or_error(request, RESPONSES)
    return await serve_chat(request, RESPONSES, model_of(body), body, parse_responses)


async def openai_embeddings(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    body = await body_or_error(request, OPENAI)
    model = model_of(body)
    entry = state.count(model or "(none)")
    try:
        auth(request, OPENAI, state.config)
        if isinstance(body, SimError):
            raise body
        model, texts, used, dims, fmt = OPENAI.parse_embeddings(body)
    except SimError as e:
        return error_response(OPENAI, e, entry, model=model)
    gate = decide(state, OPENAI, model, entry, None, "\n".join(texts), used)
    if isinstance(gate, web.Response):
        return gate
    if gate.kind == "timeout":
        await asyncio.sleep(gate.settings.faults.hang_s)
    if gate.settings.latency_ms:
        await asyncio.sleep(gate.settings.latency_ms / 1000)
    dim = dims or gate.settings.embedding_dim or 1536
    headers = {**gate.headers, **OPENAI.request_id()}
    body_out = OPENAI.render_embeddings(model, texts, used, dim, fmt)
    return await send_json(request, body_out, headers, gate.kind, entry)


async def list_models(request: web.Request) -> web.Response:
    names = request.app[STATE].config.listed_models() or DEFAULT_MODELS
    if "anthropic-version" in request.headers or "x-api-key" in request.headers:
        return web.Response(body=ANTHROPIC.render_models(names), content_type=JSON)
    return web.Response(body=OPENAI.render_models(names), content_type=JSON)


async def get_model(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if "anthropic-version" in request.headers or "x-api-key" in request.headers:
        body = {"type": "model", "id": name, "display_name": name, "created_at": "2025-01-01T00:00:00Z"}
    else:
        body = {"id": name, "object": "model", "created": 1700000000, "owned_by": "tierroute-sim"}
    return web.Response(body=encode(body), content_type=JSON)


# ---------------------------------------------------------------------------- Anthropic


async def anthropic_messages(request: web.Request) -> web.StreamResponse:
    body = await body_or_error(request, ANTHROPIC)

    def parse(b: Any) -> tuple[Prompt, bool, bool]:
        prompt, stream = ANTHROPIC.parse(b, beta=_beta(request))
        return prompt, stream, False

    return await serve_chat(request, ANTHROPIC, model_of(body), body, parse)


async def anthropic_count_tokens(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        auth(request, ANTHROPIC, state.config)
        body = await read_body(request, ANTHROPIC)
        prompt, _ = ANTHROPIC.parse(body, count_only=True, beta=_beta(request))
    except SimError as e:
        return error_response(ANTHROPIC, e, None)
    return web.Response(body=ANTHROPIC.render_count(prompt.prompt_tokens()), content_type=JSON)


def _beta(request: web.Request) -> bool:
    """The beta surface (``client.beta.messages``): ``?beta=true`` or any ``anthropic-beta`` header."""
    return request.query.get("beta") == "true" or "anthropic-beta" in request.headers


# ---------------------------------------------------------------------------- Gemini


async def gemini_post(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    model, _, method = name.rpartition(":")
    model = model.removeprefix("models/")
    state = request.app[STATE]
    if method in ("generateContent", "streamGenerateContent"):
        body = await body_or_error(request, GEMINI)
        stream = method == "streamGenerateContent"
        sse = request.query.get("alt") == "sse"

        def parse(b: Any) -> tuple[Prompt, bool, bool]:
            return GEMINI.parse(model, b), stream, False

        return await serve_chat(request, GEMINI, model, body, parse, array=stream and not sse)
    if method in ("embedContent", "batchEmbedContents"):
        return await _gemini_embed(request, model, method == "batchEmbedContents")
    if method == "countTokens":
        try:
            auth(request, GEMINI, state.config)
            prompt = GEMINI.parse(model, await read_body(request, GEMINI), count_only=True)
        except SimError as e:
            return error_response(GEMINI, e, None)
        return web.Response(body=GEMINI.render_count(prompt.prompt_tokens()), content_type=JSON)
    err = SimError("not_found", f"models/{model} is not found for API version v1beta, or {method or name} "
                   "is not supported.")  # fmt: skip
    return error_response(GEMINI, err, None)


async def _gemini_embed(request: web.Request, model: str, batch: bool) -> web.StreamResponse:
    state = request.app[STATE]
    entry = state.count(model)
    try:
        auth(request, GEMINI, state.config)
        body = await read_body(request, GEMINI)
        if batch:
            reqs = body.get("requests") if isinstance(body, dict) else None
            if not isinstance(reqs, list) or not reqs:
                raise SimError("invalid", "* BatchEmbedContentsRequest.requests: requests is not specified\n")
            items = [
                GEMINI.parse_embed(r, f"BatchEmbedContentsRequest.requests[{i}].") for i, r in enumerate(reqs)
            ]
        else:
            items = [GEMINI.parse_embed(body)]
    except SimError as e:
        return error_response(GEMINI, e, entry, model=model)
    used = sum(tokens(t) for t, _ in items)
    gate = decide(state, GEMINI, model, entry, None, "\n".join(t for t, _ in items), used)
    if isinstance(gate, web.Response):
        return gate
    if gate.kind == "timeout":
        await asyncio.sleep(gate.settings.faults.hang_s)
    if gate.settings.latency_ms:
        await asyncio.sleep(gate.settings.latency_ms / 1000)
    default = gate.settings.embedding_dim or 768
    vectors = [GEMINI.render_embedding(t, d or default) for t, d in items]
    out = encode({"embeddings": vectors} if batch else {"embedding": vectors[0]})
    return await send_json(request, out, {}, gate.kind, entry)


async def gemini_models(request: web.Request) -> web.Response:
    config = request.app[STATE].config
    names = config.listed_models() or DEFAULT_MODELS
    models = [
        (n, config.settings_for(n).context_window, config.settings_for(n).max_output_tokens) for n in names
    ]
    return web.Response(body=GEMINI.render_models(models), content_type=JSON)


async def gemini_model(request: web.Request) -> web.Response:
    name = request.match_info["name"].removeprefix("models/")
    s = request.app[STATE].config.settings_for(name)
    return web.Response(body=encode(GEMINI.model_info(name, s.context_window, s.max_output_tokens)),
                        content_type=JSON)  # fmt: skip


# ---------------------------------------------------------------------------- control API


async def sim_stats(request: web.Request) -> web.Response:
    return web.Response(body=encode({"models": request.app[STATE].stats}), content_type=JSON)


async def sim_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        body = decode(await request.read())
        model, faults = body["model"], body["faults"]
        if not isinstance(model, str) or not model or not isinstance(faults, dict):
            raise ValueError('the body is {"model": "name" | "*", "faults": {...}}')
        state.set_faults(model, faults)
    except (msgspec.DecodeError, KeyError, TypeError, ValueError) as e:
        message = (
            str(e) if isinstance(e, ValueError) else 'the body is {"model": "name" | "*", "faults": {...}}'
        )
        return web.Response(status=400, body=encode({"error": message}), content_type=JSON)
    return web.Response(body=encode({"ok": True, "faults": state.runtime}), content_type=JSON)


async def sim_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.Response(body=b'{"ok":true}', content_type=JSON)


async def sim_requests(request: web.Request) -> web.Response:
    return web.Response(body=encode({"requests": list(request.app[STATE].recent)}), content_type=JSON)


async def not_found(request: web.Request) -> web.Response:
    err = SimError("not_found", f"Invalid URL ({request.method} {request.path})")
    status, body, _ = OPENAI.error(err, status=404)
    return web.Response(status=status, body=body.replace(b'"model_not_found"', b"null"), content_type=JSON)


# ---------------------------------------------------------------------------- app and runners


def create_app(config: SimConfig) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[record])
    app[STATE] = SimState(config)
    r = app.router
    r.add_post("/v1/chat/completions", openai_chat)
    r.add_post("/v1/responses", openai_responses)
    r.add_post("/v1/embeddings", openai_embeddings)
    r.add_get("/v1/models", list_models)
    r.add_get("/v1/models/{name}", get_model)
    r.add_post("/v1/messages", anthropic_messages)
    r.add_post("/v1/messages/count_tokens", anthropic_count_tokens)
    r.add_post("/v1beta/models/{name}", gemini_post)
    r.add_post("/v1/models/{name}", gemini_post)
    r.add_get("/v1beta/models", gemini_models)
    r.add_get("/v1beta/models/{name}", gemini_model)
    r.add_get("/_sim/stats", sim_stats)
    r.add_post("/_sim/faults", sim_faults)
    r.add_post("/_sim/reset", sim_reset)
    r.add_get("/_sim/requests", sim_requests)
    r.add_route("*", "/{tail:.*}", not_found)
    return app


@dataclass
class SimHandle:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def state(self) -> SimState:
        return self.runner.app[STATE]

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_background(config: SimConfig, host: str = "127.0.0.1", port: int = 0) -> SimHandle:
    runner = web.AppRunner(
        create_app(config), handler_cancellation=True, access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return SimHandle(runner, host, runner.addresses[0][1])


def run(host: str, port: int, config_path: str | None) -> None:
    config = load_sim_config(config_path)

    async def main() -> None:
        handle = await start_background(config, host, port)
        where = f"config {config_path}" if config_path else "built-in defaults"
        print(f"tierroute simulator on {handle.base_url} (OpenAI /v1, Anthropic /v1/messages, Gemini /v1beta; "
              f"{where}, seed {config.seed})", flush=True)  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await handle.close()

    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())
