"""Server-sent events read from an aiohttp response body, yielded as they arrive.

Works on whatever chunks the socket delivers (an event may span chunks, a chunk may hold many
events), accepts ``\\n``, ``\\r\\n`` and ``\\r`` line ends, joins multi-line ``data:`` fields and
skips comments, as the SSE spec says. No buffering beyond the one event being assembled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp


class SSEEvent:
    __slots__ = ("data", "event")

    def __init__(self, event: str | None, data: bytes) -> None:
        self.event = event
        self.data = data

    def __repr__(self) -> str:
        return f"SSEEvent({self.event!r}, {self.data[:60]!r})"


def _parse_block(block: bytes) -> SSEEvent | None:
    if block[:6] == b"data: " and b"\n" not in block:  # the common case: one data line
        return SSEEvent(None, block[6:])
    event: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line[0] == 0x3A:  # ':' starts a comment (keep-alive pings)
            continue
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if not data and event is None:
        return None
    return SSEEvent(event, b"\n".join(data))


async def iter_events(resp: aiohttp.ClientResponse) -> AsyncIterator[SSEEvent]:
    """Yield each complete event; a trailing event without its blank line is yielded at EOF."""
    buf = b""
    content = resp.content
    while True:
        chunk = await content.readany()
        if not chunk:
            break
        if b"\r" in chunk or buf.endswith(b"\r"):
            buf = (buf + chunk).replace(b"\r\n", b"\n")
            # a lone '\r' at the very end may be half of '\r\n': keep it until the next chunk
            tail = buf.endswith(b"\r")
            if tail:
                buf = buf[:-1]
            buf = buf.replace(b"\r", b"\n")
            if tail:
                buf += b"\r"
        else:
            buf += chunk
        pos = 0
        while True:
            cut = buf.find(b"\n\n", pos)
            if cut < 0:
                break
            ev = _parse_block(buf[pos:cut])
            pos = cut + 2
            if ev is not None:
                yield ev
        if pos:
            buf = buf[pos:]
    buf = buf.rstrip(b"\r\n")
    if buf:
        ev = _parse_block(buf)
        if ev is not None:
            yield ev
