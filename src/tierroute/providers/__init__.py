"""Provider adapters: the only code that knows a vendor's wire format.

``get_adapter(dialect)`` returns the adapter for ``Deployment.dialect`` ("openai", "anthropic",
"gemini"); adapters are stateless, so one instance each serves every deployment. ``close_http()``
closes the shared connection pool at shutdown.
"""

from __future__ import annotations

from tierroute.providers.anthropic import AnthropicAdapter
from tierroute.providers.base import Adapter
from tierroute.providers.gemini import GeminiAdapter
from tierroute.providers.http import close as close_http
from tierroute.providers.openai_compat import OpenAICompatAdapter

_ADAPTERS: dict[str, Adapter] = {
    "openai": OpenAICompatAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
}

DIALECTS: tuple[str, ...] = tuple(_ADAPTERS)


def get_adapter(dialect: str) -> Adapter:
    """The adapter for a wire dialect; ``KeyError`` names the known ones."""
    try:
        return _ADAPTERS[dialect]
    except KeyError:
        raise KeyError(f"unknown provider dialect {dialect!r}; known: {', '.join(_ADAPTERS)}") from None


__all__ = ["DIALECTS", "Adapter", "close_http", "get_adapter"]
