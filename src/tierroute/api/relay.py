"""Reading a chat stream for one client: its first chunk apart (an error before it can still become an
HTTP error), then the rest, closing the upstream stream the moment the client stops reading."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tierroute.types import ChatChunk


async def first_chunk(chunks: AsyncIterator[ChatChunk]) -> tuple[ChatChunk | None, AsyncIterator[ChatChunk]]:
    it = chunks.__aiter__()
    try:
        return await it.__anext__(), it
    except StopAsyncIteration:
        return None, it


async def follow(first: ChatChunk | None, it: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
    """``first``, then the rest of ``it``."""
    chunk = first
    try:
        while chunk is not None:
            yield chunk
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                chunk = None
    finally:
        # the client may stop reading early: let the upstream stream close its connection now
        aclose = getattr(it, "aclose", None)
        if aclose is not None and chunk is not None:
            await aclose()
