"""Streams on their way to a client: ``ChunkRelay`` passes an upstream stream on while keeping what
accounting and the cache need, ``CachedRelay`` replays a cache hit, and ``first_chunk`` / ``follow``
read a stream for a dialect encoder (the first chunk apart, so an error before it can still become an
HTTP error; the upstream closed the moment the client stops reading)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec

from tierroute.errors import ProviderError, TierrouteError
from tierroute.execution.run import Done, Opened
from tierroute.routing import estimate_prompt_tokens
from tierroute.types import ChatChunk, ChatResponse, Choice, ResponseMessage, Usage

_decode = msgspec.json.decode
_encode = msgspec.json.encode

if TYPE_CHECKING:
    from tierroute.api.exchange import Exchange


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


class CachedRelay:
    """A cache hit replayed as a stream."""

    def __init__(self, chunks: list[ChatChunk]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        for c in self._chunks:
            yield c

    async def finish(self) -> None:
        return None


class ChunkRelay:
    """Passes a stream's chunks to the client as they arrive, keeping what accounting needs: usage,
    time to first token, the text (to cache a complete answer) and how it ended."""

    def __init__(self, ex: Exchange, done: Done[Opened]) -> None:
        self.ex = ex
        self.done = done
        self.include_usage = bool(ex.req.stream_options and ex.req.stream_options.include_usage)
        self.usage: Usage | None = None
        self.parts: list[str] = []
        self.finish_reason: Any = None
        self.tool_calls = False
        self.error: TierrouteError | None = None
        self.ttft_ms: float | None = None
        self.finished = False

    def _price(self, chunk: ChatChunk, model: str) -> None:
        """The final usage event says what the answer cost and what the baseline would have (as
        OpenRouter's ``usage.cost``): set on our chunk, or written into a forwarded OpenAI chunk."""
        assert chunk.usage is not None
        cost, baseline = (round(c, 8) for c in self.ex.costs(model, chunk.usage))
        raw = chunk.raw
        if raw is msgspec.UNSET:
            chunk.usage.cost, chunk.usage.baseline_cost = cost, baseline
        elif raw.startswith(b"data: {") and not chunk.choices:  # type: ignore[union-attr]
            try:
                doc = _decode(raw[6:])  # type: ignore[index]
            except msgspec.DecodeError:
                return
            if isinstance(doc, dict) and isinstance(doc.get("usage"), dict):
                doc["usage"].update(cost=cost, baseline_cost=baseline)
                chunk.raw = b"data: " + _encode(doc) + b"\n\n"

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        opened = self.done.value
        chunk = opened.first
        model = self.done.deployment.model
        try:
            while True:
                chunk.model = model
                if chunk.usage is not None:
                    self.usage = chunk.usage
                    self._price(chunk, model)
                for c in chunk.choices:
                    d = c.delta
                    if d.content:
                        if self.ttft_ms is None:
                            self.ttft_ms = (time.perf_counter() - self.ex.t0) * 1000
                        if c.index == 0:
                            self.parts.append(d.content)
                    if d.tool_calls:
                        self.tool_calls = True
                    if c.finish_reason is not None and c.index == 0:
                        self.finish_reason = c.finish_reason
                # a forwarded event with nothing parsed from it still goes to its client
                if chunk.choices or self.include_usage or (chunk.raw is not msgspec.UNSET and chunk.usage is None):
                    if not self.include_usage and chunk.usage is not None:
                        chunk.usage = None
                    yield chunk
                chunk = await opened.rest.__anext__()
        except StopAsyncIteration:
            return
        except TierrouteError as e:
            self.error = e
            raise

    async def finish(self) -> None:
        """Settle quota, health, usage and cache once the stream is over (or the client left)."""
        if self.finished:
            return
        self.finished = True
        ex, done = self.ex, self.done
        text = "".join(self.parts)
        usage = self.usage
        if usage is None:  # the vendor sent no usage: estimate, so a broken stream is still accounted for
            p, c = estimate_prompt_tokens(ex.req), (len(text) + 3) // 4
            usage = Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c)
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
        err = self.error if isinstance(self.error, ProviderError) else None
        await ex.gw.executor.finish(done, prompt + completion, err)
        if self.error is None and self.usage is not None:
            await ex.gw.router.note_answer(ex.req, done.deployment, self.usage, ex.plan)
        ex._record(done.deployment.model, done, usage, self.error, ttft_ms=self.ttft_ms, answer=text)
        complete = self.error is None and self.finish_reason in ("stop", "length") and not self.tool_calls
        if ex.cache_ctx is not None and complete:
            ex._store(ChatResponse(
                id=ex.request_id, created=int(ex.ts), model=done.deployment.model,
                choices=[Choice(index=0, message=ResponseMessage(content=text), finish_reason=self.finish_reason)],
                usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)))
