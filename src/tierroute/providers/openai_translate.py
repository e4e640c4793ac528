"""Our ``ChatRequest`` as an OpenAI chat body, for requests that arrived in another dialect (or that
tierroute made itself, such as a judge call).

OpenAI chat is the base of ``ChatRequest``, so most fields go as they are. What it cannot carry:

| ChatRequest                          | OpenAI chat                                                      |
|--------------------------------------|------------------------------------------------------------------|
| ``reasoning``                        | ``reasoning_effort`` (``providers/reasoning.py``), reasoning models only |
| ``cache_control`` markers            | dropped: OpenAI caches prompt prefixes by itself                  |
| ``ThinkingPart`` (earlier reasoning) | dropped: only its own vendor can read it                          |
| ``OpaquePart`` (documents, ...)      | dropped, by kind                                                  |
| images in a tool result              | dropped (a tool message is text only)                             |
| ``top_k``                            | dropped                                                           |

Everything dropped is named in ``dropped`` (the gateway's ``X-Tierroute-Dropped`` header). With the
provider's ``prompt_cache_hints``, ``prompt_cache_key`` is set from the client's session.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET

from tierroute.providers.reasoning import openai_effort
from tierroute.types import ChatRequest, Deployment, StreamOptions

_replace = msgspec.structs.replace
_to_builtins = msgspec.to_builtins
_USAGE_ON = StreamOptions(include_usage=True)


def _clean_content(m: dict[str, Any], dropped: list[str]) -> None:
    content = m.get("content")
    if not isinstance(content, list):
        return
    kept: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "thinking":
            dropped.append("thinking")
            continue
        if kind == "opaque":
            dropped.append(part.get("kind") or "content block")
            continue
        if kind == "image_url" and m.get("role") == "tool":
            dropped.append("tool_result images")
            continue
        if "cache_control" in part:
            del part["cache_control"]
            dropped.append("cache_control")
        kept.append(part)
    if all(p.get("type") == "text" for p in kept) and m.get("role") != "user":
        m["content"] = "".join(p.get("text", "") for p in kept) or (None if m.get("tool_calls") else "")
    else:
        m["content"] = kept


def chat_body(req: ChatRequest, dep: Deployment, dropped: list[str], *, stream: bool) -> dict[str, Any]:
    rich = req.reasoning is not UNSET or req.top_k is not UNSET
    doc: dict[str, Any] = _to_builtins(_replace(
        req, model=dep.upstream_model, metadata=None, stream=stream, stream_options=_USAGE_ON if stream else None,
        inbound=UNSET, session=UNSET, reasoning=UNSET, top_k=UNSET))
    for field in ("max_tokens", "max_completion_tokens"):  # a cap above the model's limit is refused
        if dep.max_output and isinstance(doc.get(field), int) and doc[field] > dep.max_output:
            doc[field] = dep.max_output
    for m in doc["messages"]:
        if "cache_control" in m:
            del m["cache_control"]
            dropped.append("cache_control")
        if m.pop("reasoning_details", None):
            dropped.append("thinking")
        _clean_content(m, dropped)
    for t in doc.get("tools") or ():
        if "cache_control" in t:
            del t["cache_control"]
            dropped.append("cache_control")
    if dep.cache_hints and req.session is not UNSET and "prompt_cache_key" not in doc:
        # OpenAI routes requests with one key to the same cache: a session's turns share their prefix
        doc["prompt_cache_key"] = req.session
    if rich:
        spec = req.reasoning_spec()
        if spec is not None:
            effort = openai_effort(spec)
            if effort is not None and dep.reasoning:
                doc["reasoning_effort"] = effort
            elif effort is not None:
                dropped.append("reasoning")
        if req.top_k is not UNSET:
            dropped.append("top_k")
    elif req.reasoning_effort and not dep.reasoning:
        del doc["reasoning_effort"]
        dropped.append("reasoning_effort")
    return doc
