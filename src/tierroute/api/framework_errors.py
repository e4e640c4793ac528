"""The HTTP framework's own refusals (unknown path, wrong method, a malformed request line it caught)
answered as JSON in the dialect of the path: Anthropic's error shape under ``/v1/messages``, OpenAI's
everywhere else, never aiohttp's plain text."""

from __future__ import annotations

from aiohttp import web

from tierroute.api.errors import error_for_path
from tierroute.errors import RouteNotFound

_MESSAGES = {404: "Unknown route: {method} {path}. The gateway serves /v1/chat/completions, /v1/responses, "
                  "/v1/messages, /v1/embeddings and /v1/models.",
             405: "{method} is not allowed on {path}."}


@web.middleware
async def json_errors(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        text = _MESSAGES.get(exc.status, "{reason}").format(method=request.method, path=request.path,
                                                            reason=exc.reason)
        err = RouteNotFound(text, exc.status)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_for_path(request, err, headers)
