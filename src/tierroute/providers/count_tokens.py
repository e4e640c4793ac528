"""Anthropic's ``POST /v1/messages/count_tokens``, forwarded to an Anthropic deployment as the client
sent it (model swapped, the provider's key in place of the client's)."""

from __future__ import annotations

from tierroute.providers.anthropic import forward_to
from tierroute.providers.call import post
from tierroute.types import CallInfo, ChatRequest, Deployment


async def count_tokens(req: ChatRequest, dep: Deployment) -> bytes:
    """The vendor's answer body (``{"input_tokens": N}``); a ``ProviderError`` when it fails."""
    fwd = req.forwarded("anthropic")
    assert fwd is not None, "count_tokens forwards the client's own Anthropic body"
    url, body, headers = forward_to(fwd, dep, "/v1/messages/count_tokens")
    return await post(url, body, headers, dep, CallInfo())
