"""A request body as the client sent it, kept beside what tierroute reads from it.

Every dialect handler parses the body once into plain JSON, validates what tierroute reads (a
msgspec struct over the same JSON), and keeps the JSON, the vendor headers and the query string in
an ``Inbound``: an adapter of the same dialect forwards them as they came (``providers/forward.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from tierroute.api.errors import invalid_body
from tierroute.errors import InvalidRequest
from tierroute.providers.forward import forwardable_headers
from tierroute.types import ChatRequest, Inbound

_decode = msgspec.json.decode

# (the JSON object, the HTTP request) -> the request as we read it, and what in it only its own
# dialect can carry (named in X-Tierroute-Dropped when a translation leaves it behind)
Decoder = Callable[[dict[str, Any], web.Request], tuple[ChatRequest, list[str]]]


# How deep a body may nest objects and arrays. Real requests stay far below it (a tool schema a
# dozen levels, tool results a few); everything after decoding (translation, cache keys, encoding)
# may recurse per level, so a body deeper than this is refused before any of it runs.
MAX_DEPTH = 128


def _too_deep() -> InvalidRequest:
    return InvalidRequest(f"The request body nests objects or arrays more than {MAX_DEPTH} levels deep; "
                          "flatten it.", param=None, code="nesting_too_deep")


def check_depth(doc: Any) -> None:
    """A 400 when ``doc`` nests deeper than ``MAX_DEPTH``; iterative, so it cannot overflow itself."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


def decode_bounded(body: bytes) -> Any:
    """The body as JSON within ``MAX_DEPTH``: the decoder's own recursion limit (hit near 1,000
    levels, less on a deep stack) is a 400 too, never a RecursionError."""
    try:
        doc = _decode(body)
    except msgspec.DecodeError as exc:
        raise invalid_body(exc) from None
    except RecursionError:
        raise _too_deep() from None
    # Fewer brackets than the limit cannot nest past it: the walk is skipped for most bodies.
    if isinstance(doc, dict | list) and body.count(b"{") + body.count(b"[") > MAX_DEPTH:
        check_depth(doc)
    return doc


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; a 400 naming the problem otherwise (bad JSON, nesting deeper
    than ``MAX_DEPTH``, not an object)."""
    doc = decode_bounded(body)
    if not isinstance(doc, dict):
        raise InvalidRequest("The request body must be a JSON object.", param=None)
    return doc


def attach(req: ChatRequest, dialect: Any, doc: dict[str, Any], request: web.Request,
           untranslatable: list[str]) -> ChatRequest:
    headers = forwardable_headers(request.headers)
    extra = list(untranslatable)
    if dialect == "anthropic" and "anthropic-beta" in headers:
        extra.append("anthropic-beta")
    req.inbound = Inbound(dialect=dialect, body=doc, headers=headers, query=request.query_string,
                          untranslatable=extra)
    return req


# ChatRequest's fields beyond OpenAI chat: tierroute's own, never read from an OpenAI chat body (a
# vendor's field of the same name, such as OpenRouter's `reasoning`, is forwarded, not parsed).
_INTERNAL = frozenset(("reasoning", "top_k", "session", "inbound"))
_CHAT_FIELDS = frozenset(ChatRequest.__struct_fields__) - _INTERNAL


def decode_chat(doc: dict[str, Any], request: web.Request) -> tuple[ChatRequest, list[str]]:
    """OpenAI chat: ``ChatRequest`` is its schema; fields it does not model are OpenAI-only."""
    src = doc if _INTERNAL.isdisjoint(doc) else {k: v for k, v in doc.items() if k not in _INTERNAL}
    try:
        req = msgspec.convert(src, ChatRequest)
    except msgspec.ValidationError as exc:
        raise invalid_body(exc) from None
    return req, [k for k in doc if k not in _CHAT_FIELDS]
