"""The one interface every vendor adapter implements.

An adapter knows one wire dialect. It turns our ``ChatRequest`` into the vendor's request, the
vendor's answer (or stream, or error) back into ``ChatResponse`` / ``ChatChunk`` / an error from
``tierroute.errors``, and fills the ``CallInfo`` it is handed (HTTP status, the vendor's rate-limit
headers, when the first byte arrived). Nothing above ``providers/`` sees a vendor format.

Streams: ``stream()`` is an async iterator. Any error before the first chunk is yielded is raised
from the first ``__anext__`` (so execution may still fall back); an error after that is raised
mid-iteration and the API layer turns it into an error event. Leading chunks that carry nothing
(the role-only chunk) are held back until real content arrives, so a vendor failing right after
its stream opened still fails on the first ``__anext__``. A stream always ends with one
usage-only chunk (``choices == []``, ``usage`` set), whether or not the caller asked for
``stream_options.include_usage``: the gateway needs it for accounting, and the API layer drops
it for callers that did not ask. A stream that ends without the vendor's end marker raises
``UpstreamError``; it never ends cleanly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from tierroute.types import (
    CallInfo,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Deployment,
    EmbeddingRequest,
    EmbeddingResponse,
)


class Adapter(Protocol):
    dialect: str

    async def send(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> ChatResponse: ...

    def stream(self, req: ChatRequest, dep: Deployment, info: CallInfo) -> AsyncIterator[ChatChunk]: ...

    async def embed(self, req: EmbeddingRequest, dep: Deployment, info: CallInfo) -> EmbeddingResponse: ...
