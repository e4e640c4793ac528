"""What every adapter does to its answers before anyone sees them.

``hold_empty_start`` holds back a stream's leading chunks that carry nothing (the role chunk,
Anthropic's ``message_start``) until real content arrives. Vendors often fail right after that
empty start (Anthropic's mid-stream ``overloaded_error`` usually comes there), and while nothing
has been yielded execution may still fall back to another deployment. A stream that ends on a
content-filter stop before any content raises ``ContentFiltered``, the same as ``send`` does for
an answer that is nothing but a filter stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from msgspec import UNSET

from tierroute.errors import ContentFiltered
from tierroute.types import CallInfo, ChatChunk, ChatResponse, Deployment


def _filtered(dep: Deployment, status: int | None) -> ContentFiltered:
    return ContentFiltered(f"{dep.id}: the vendor withheld the answer on content policy",
                           deployment=dep.id, upstream_status=status)


def check_filtered(resp: ChatResponse, dep: Deployment, status: int | None) -> ChatResponse:
    """The response, unless every choice is an empty content-filter stop (then raise)."""
    if resp.choices and all(c.finish_reason == "content_filter" and not c.message.content
                            and not c.message.tool_calls for c in resp.choices):
        raise _filtered(dep, status)
    return resp


def _carries(chunk: ChatChunk) -> bool:
    if chunk.raw is not UNSET and chunk.choices and chunk.choices[0].delta.role is None:
        return True  # a forwarded event the adapter marked as content (thinking, a signature)
    for ch in chunk.choices:
        d = ch.delta
        if d.content or d.tool_calls or d.refusal or (ch.finish_reason and ch.finish_reason != "content_filter"):
            return True
    return chunk.usage is not None and not chunk.choices


async def hold_empty_start(chunks: AsyncIterator[ChatChunk], dep: Deployment,
                           info: CallInfo) -> AsyncIterator[ChatChunk]:
    held: list[ChatChunk] = []
    it = chunks.__aiter__()
    try:
        async for chunk in it:
            if _carries(chunk):
                for h in held:
                    yield h
                held = []
                yield chunk
                break
            if any(ch.finish_reason == "content_filter" for ch in chunk.choices):
                raise _filtered(dep, info.status)
            held.append(chunk)
        else:
            for h in held:
                yield h
            return
        async for chunk in it:
            yield chunk
    finally:
        # a consumer that stops early (client gone) must not leave the vendor connection open
        await it.aclose()  # type: ignore[attr-defined]
