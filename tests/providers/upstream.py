"""A scriptable fake vendor: a real aiohttp server whose next answers a test sets.

The simulator covers well-behaved vendors and the standard faults; this covers the odd corners
real vendors produce (null usage, unknown finish reasons, odd line endings, errors inside a
stream) and records exactly what the adapter sent, so tests can check the wire request.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None  # when set: a streamed body, written chunk by chunk
    delay_s: float = 0.0  # before the headers
    chunk_delay_s: float = 0.0


@dataclass
class Seen:
    path: str
    query: str
    headers: dict[str, str]
    body: Any


class Upstream:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.default: Reply | None = None
        self.seen: list[Seen] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def json(self, doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.queue(Reply(status=status, body=json.dumps(doc).encode(), headers=headers or {}))

    def sse(self, events: list[bytes], status: int = 200, chunk_delay_s: float = 0.0) -> None:
        self.queue(Reply(status=status, chunks=events, chunk_delay_s=chunk_delay_s,
                         headers={"Content-Type": "text/event-stream"}))

    @property
    def last(self) -> Seen:
        return self.seen[-1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.seen.append(Seen(request.path, request.query_string, dict(request.headers), body))
        r = self.replies.pop(0) if self.replies else self.default
        if r is None:
            return web.Response(status=500, text="no scripted reply")
        if r.delay_s:
            await asyncio.sleep(r.delay_s)
        if r.chunks is None:
            h = {"Content-Type": "application/json", **r.headers}
            return web.Response(status=r.status, body=r.body, headers=h)
        resp = web.StreamResponse(status=r.status, headers=r.headers)
        await resp.prepare(request)
        try:
            for c in r.chunks:
                if c == b"<<CUT>>":  # drop the connection mid-stream, as a crashed upstream would
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                await resp.write(c)
                if r.chunk_delay_s:
                    await asyncio.sleep(r.chunk_delay_s)
            await resp.write_eof()
        except ConnectionResetError:  # the adapter hung up first, as some tests make it
            pass
        return resp

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def sse_data(doc: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return head + b"data: " + data + b"\n\n"
