"""Anthropic's ``POST /v1/messages/count_tokens``, forwarded to an Anthropic deployment as the client
sent it (model swapped, the provider's key in place of the client's)."""

from __future__ import annotations

from tierroute.providers.anthropic import API_VERSION, anthropic_headers
from tierroute.providers.call import post
from tierroute.providers.forward import forward_body, forward_headers, url_with_query
from tierroute.types import CallInfo, ChatRequest, Deployment


async def count_tokens(req: ChatRequest, dep: Deployment) -> bytes:
    """The vendor's answer body (``{"input_tokens": N}``); a ``ProviderError`` when it fails."""
    fwd = req.forwarded("anthropic")
    assert fwd is not None, "count_tokens forwards the client's own Anthropic body"
    headers = forward_headers(fwd, anthropic_headers(dep))
    headers.setdefault("anthropic-version", API_VERSION)
    url = url_with_query(dep.base_url + "/v1/messages/count_tokens", fwd)
    return await post(url, forward_body(fwd, dep), headers, dep, CallInfo())
