"""How much the OpenAI-compatible adapter adds per call (run by hand, not collected by pytest).

    .venv/bin/python -m tests.providers.bench_openai_compat [N]

Measures (1) the adapter's own CPU work per call (encode request, decode + normalise answer) with
no network, and (2) end-to-end calls against a local aiohttp upstream, the adapter vs a bare
aiohttp POST of a pre-encoded body on the same keep-alive pool; the difference is the overhead.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import multiprocessing.connection
import sys
import time

import msgspec
from aiohttp import web

from tierroute.providers import close_http, get_adapter
from tierroute.providers.http import session
from tierroute.providers.openai_lenient import normalise_response, response_decoder
from tierroute.types import CallInfo, ChatRequest, Deployment, Message

ANSWER = json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! " * 40}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 25, "completion_tokens": 80, "total_tokens": 105},
}).encode()
REQ = ChatRequest(model="auto", messages=[Message(role="system", content="You are helpful."),
                                          Message(role="user", content="Write a haiku about routers. " * 5)],
                  temperature=0.2, max_tokens=200, metadata={"task": "chat"})


def cpu_only(n: int) -> float:
    enc, rep = msgspec.json.encode, msgspec.structs.replace
    t0 = time.perf_counter()
    for _ in range(n):
        enc(rep(REQ, model="gpt-4o-mini", metadata=None, stream=False, stream_options=None))
        normalise_response(response_decoder.decode(ANSWER), "gpt-4o-mini")
    return (time.perf_counter() - t0) / n * 1e6


CHUNKS = 50
STREAM_BODY = b"".join(
    b"data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                            "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}]}
                           ).encode() + b"\n\n" for i in range(CHUNKS)
) + b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,' \
    b'"delta":{},"finish_reason":"stop"}]}\n\n' + b'data: {"id":"c1","object":"chat.completion.chunk",' \
    b'"created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":50,' \
    b'"total_tokens":55}}\n\ndata: [DONE]\n\n'


def _serve(port_out: multiprocessing.connection.Connection) -> None:
    """The fake vendor, in its own process so its CPU time is not counted as the adapter's."""

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=ANSWER, content_type="application/json")

    async def run() -> None:
        app = web.Application()
        async def streamer(_: web.Request) -> web.Response:
            return web.Response(body=STREAM_BODY, content_type="text/event-stream")

        app.router.add_post("/v1/chat/completions", handler)
        app.router.add_post("/stream/v1/chat/completions", streamer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(run())


async def end_to_end(n: int, port: int) -> tuple[float, float]:
    dep = Deployment(id="openai/gpt-4o-mini", model="gpt-4o-mini", provider="openai", dialect="openai",
                     base_url=f"http://127.0.0.1:{port}/v1", upstream_model="gpt-4o-mini", api_key="sk-x")
    adapter = get_adapter("openai")
    body = msgspec.json.encode(REQ)
    url = dep.base_url + "/chat/completions"
    hdrs = {"Authorization": "Bearer sk-x", "Content-Type": "application/json"}

    async def bare() -> None:
        async with session().post(url, data=body, headers=hdrs) as r:
            await r.read()

    for _ in range(200):  # warm the pool and the code paths
        await adapter.send(REQ, dep, CallInfo())
        await bare()
    best_a = best_b = float("inf")
    batch = max(100, n // 10)
    for _ in range(20):  # short interleaved batches, best of each: the machine's noise is larger than us
        t0 = time.perf_counter()
        for _ in range(batch):
            await adapter.send(REQ, dep, CallInfo())
        best_a = min(best_a, (time.perf_counter() - t0) / batch * 1e6)
        t0 = time.perf_counter()
        for _ in range(batch):
            await bare()
        best_b = min(best_b, (time.perf_counter() - t0) / batch * 1e6)
    sdep = msgspec.structs.replace(dep, base_url=f"http://127.0.0.1:{port}/stream/v1")
    sreq = msgspec.structs.replace(REQ, stream=True)
    surl = sdep.base_url + "/chat/completions"

    async def bare_stream() -> None:
        async with session().post(surl, data=body, headers=hdrs) as r:
            async for _ in r.content.iter_any():
                pass

    async def adapter_stream() -> None:
        async for _ in adapter.stream(sreq, sdep, CallInfo()):
            pass

    best_s = best_bs = float("inf")
    for _ in range(10):
        t0 = time.perf_counter()
        for _ in range(batch // 4):
            await adapter_stream()
        best_s = min(best_s, (time.perf_counter() - t0) / (batch // 4) * 1e6)
        t0 = time.perf_counter()
        for _ in range(batch // 4):
            await bare_stream()
        best_bs = min(best_bs, (time.perf_counter() - t0) / (batch // 4) * 1e6)
    print(f"stream of {CHUNKS + 2} chunks: adapter {best_s:.0f} us, bare read {best_bs:.0f} us; "
          f"adapter overhead {(best_s - best_bs) / (CHUNKS + 2):.1f} us/chunk")
    await close_http()
    return best_a, best_b


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    print(f"adapter CPU work (encode + decode + normalise): {cpu_only(n * 10):.1f} us/call")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    recv, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=_serve, args=(send,), daemon=True)
    server.start()
    try:
        a, b = asyncio.run(end_to_end(n, recv.recv()))
    finally:
        server.terminate()
        server.join()
    print(f"adapter.send end to end: {a:.1f} us/call; bare aiohttp POST: {b:.1f} us/call; "
          f"adapter overhead: {a - b:.1f} us/call")


if __name__ == "__main__":
    main()
