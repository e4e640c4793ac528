"""Tool-call arguments: OpenAI carries them as a JSON string, Anthropic and Gemini as an object."""

from __future__ import annotations

from typing import Any

import msgspec

from tierroute.errors import BadRequest
from tierroute.types import Deployment


def parse_tool_arguments(args: str, dep: Deployment, param: str) -> Any:
    """The object an assistant's tool call carried; empty arguments are an empty object."""
    if not args.strip():
        return {}
    try:
        return msgspec.json.decode(args)
    except msgspec.DecodeError:
        # The caller replayed a tool call whose arguments are not JSON: no vendor would take it either.
        raise BadRequest(f"{param}: tool call arguments are not valid JSON", param=param,
                         deployment=dep.id) from None
