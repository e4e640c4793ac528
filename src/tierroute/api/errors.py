"""Errors as HTTP: OpenAI's error JSON for every failure, naming the field at fault."""

from __future__ import annotations

import logging
import re

import msgspec
from aiohttp import web

from tierroute.api.anthropic_inbound import error_response as anthropic_error
from tierroute.api.keys import GATEWAY
from tierroute.errors import InvalidRequest, PayloadTooLarge, TierrouteError

log = logging.getLogger("tierroute")
_encode = msgspec.json.encode
_PATH = re.compile(r" - at `\$(.*)`$")
_NAMED_FIELD = re.compile(r"(?:missing required|contains unknown) field `(\w+)`")


def error_response(err: TierrouteError, headers: dict[str, str] | None = None) -> web.Response:
    h = err.headers()
    if headers:
        h = {**headers, **h}
    return web.Response(body=_encode(err.body()), status=err.status, content_type="application/json", headers=h)


def error_for_path(request: web.Request, err: TierrouteError, headers: dict[str, str] | None = None
                   ) -> web.Response:
    """The error in the dialect of the path: Anthropic's shape under /v1/messages, OpenAI's elsewhere
    (for refusals made before a dialect handler runs)."""
    if request.path.startswith("/v1/messages"):
        return anthropic_error(err, headers)
    return error_response(err, headers)


@web.middleware
async def recursion_guard(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    """The backstop behind the depth limit of api/inbound.py: nesting that reaches Python's recursion
    limit anywhere (a JSON string inside the body decoded later, a translation) is the caller's
    input, so a 400, never a 500 with a traceback."""
    try:
        return await handler(request)
    except RecursionError:
        log.warning("%s %s: input nested too deeply to process", request.method, request.path)
        return error_for_path(request, InvalidRequest(
            "The request nests objects or arrays too deeply to process; flatten it.", param=None,
            code="nesting_too_deep"))


def bad_field(message: str, param: str) -> InvalidRequest:
    """A 400 for a field tierroute read and found wrong, named as the dialects name it."""
    return InvalidRequest(f"Invalid request (at '{param}'): {message}", param=param)


def invalid_body(exc: msgspec.DecodeError | msgspec.ValidationError, root: str = "") -> InvalidRequest:
    """Turn msgspec's message (``Expected `array`, got `str` - at `$.messages```) into a 400 that
    names the parameter the way OpenAI does (``messages``, ``messages[0].role``)."""
    text = str(exc)
    m = _PATH.search(text)
    param = m.group(1).lstrip(".") if m else None
    problem = _PATH.sub("", text)
    field = _NAMED_FIELD.search(problem) if isinstance(exc, msgspec.ValidationError) else None
    if field:  # a missing or an unknown field: msgspec's path stops at its parent object
        param = f"{param}.{field.group(1)}" if param else field.group(1)
    if root and param:
        param = f"{root}.{param}"
    if not isinstance(exc, msgspec.ValidationError):
        return InvalidRequest(f"The request body is not valid JSON: {problem}", param=None, code="invalid_json")
    where = f" (at '{param}')" if param else ""
    return InvalidRequest(f"Invalid request{where}: {problem}", param=param)


async def read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        mb = request.app[GATEWAY].settings.gateway.server.max_body_mb
        raise PayloadTooLarge(f"The request body is larger than the gateway accepts ({mb:g} MB, "
                              "server.max_body_mb).", param=None) from None
