"""What a web page must not make the gateway do, checked once for every route.

A browser attaches what the gateway trusts (a cached Basic login, a loopback address that needs no
key) to requests any page can make, so each of those is bounded here rather than in each handler:

- a body is read only when declared ``application/json``: a cross-site "simple" POST (``text/plain``,
  a form) never gets a preflight, so it must never act (415);
- a request carrying an ``Origin`` other than the gateway's own, or ``Sec-Fetch-Site: cross-site`` /
  ``same-site``, is refused unless its origin is in ``server.cors_origins`` (403); listed origins get
  proper CORS preflight answers and headers. SDKs and agents send neither header and are unaffected;
- an open gateway (no master key, loopback only) answers only to loopback ``Host`` names, so a page
  whose DNS name rebinds to 127.0.0.1 cannot reach it as its own origin;
- a header with bytes that are not UTF-8 is a 400 naming it, before anything reads or forwards it;
- unsafe methods under ``/ui`` need positive proof of the gateway's own origin.

Errors are in the dialect of the path: Anthropic's shape under ``/v1/messages``, OpenAI's elsewhere.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

from tierroute.api.errors import error_for_path
from tierroute.errors import CrossOriginRefused, InvalidRequest, TierrouteError, UnsupportedMediaType

_UNSAFE = frozenset(("POST", "PUT", "PATCH", "DELETE"))
_WITH_BODY = frozenset(("POST", "PUT", "PATCH"))
_FOREIGN_FETCH = frozenset(("cross-site", "same-site"))
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # how aiohttp keeps bytes that are not UTF-8
_TOKEN_LIST = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~, -]*")
_EXPOSE = ("X-Request-Id, X-Tierroute-Model, X-Tierroute-Provider, X-Tierroute-Route, X-Tierroute-Attempts, "
           "X-Tierroute-Cache, X-Tierroute-Cache-Similarity, X-Tierroute-Dropped, X-Tierroute-Escalated, "
           "Retry-After")
_CORS_ORIGIN = web.RequestKey("tierroute_cors_origin", str)


def is_browser_path(path: str) -> bool:
    """The dashboard and its assets: the only place a browser login (Basic auth) is accepted."""
    return path == "/ui" or path.startswith("/ui/")


def _is_loopback_name(host: str) -> bool:
    """A Host header naming this machine without DNS (a rebinding attacker controls DNS)."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _default_port(origin: str) -> str:
    for scheme, port in (("http://", ":80"), ("https://", ":443")):
        if origin.startswith(scheme) and origin.endswith(port):
            return origin[: -len(port)]
    return origin


def _same_origin(origin: str, request: web.Request) -> bool:
    """``Origin`` names the host the request was sent to (scheme aside: a TLS proxy changes it)."""
    netloc = origin.partition("://")[2]
    host = request.host.lower()
    return bool(netloc) and (netloc == host or _default_port(origin).partition("://")[2] == host)


def _check_headers(request: web.Request) -> None:
    for name, value in request.headers.items():
        if _UNDECODABLE.search(value) or _UNDECODABLE.search(name):
            shown = _UNDECODABLE.sub("?", name)
            raise InvalidRequest(f"The {shown} header is not valid UTF-8 text; send header values as ASCII "
                                 "(or UTF-8).", param=shown, code="invalid_header")


def _preflight(request: web.Request, origin: str, listed: bool) -> web.Response:
    if not listed:
        raise CrossOriginRefused(f"Cross-origin requests from {origin} are not allowed; add it to "
                                 "server.cors_origins to let its pages call the gateway.")
    asked = request.headers.get("Access-Control-Request-Headers", "")
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": "GET, POST, DELETE",
               "Access-Control-Max-Age": "600",
               "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
    if asked and _TOKEN_LIST.fullmatch(asked):
        headers["Access-Control-Allow-Headers"] = asked
    return web.Response(status=204, headers=headers)


def _check_origin(request: web.Request, origin: str | None, listed: bool) -> None:
    if listed:
        return
    if origin is not None and not _same_origin(origin, request):
        raise CrossOriginRefused(f"This request came from a web page at {origin}, not from the gateway's own "
                                 "origin; add that origin to server.cors_origins to allow it.")
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    navigation = request.method in ("GET", "HEAD") and request.headers.get("Sec-Fetch-Mode") == "navigate"
    if site in _FOREIGN_FETCH and not navigation:
        raise CrossOriginRefused(f"This request came from another site's page (Sec-Fetch-Site: {site}); add its "
                                 "origin to server.cors_origins to allow it.")
    if request.method in _UNSAFE and is_browser_path(request.path) and not (
            site == "same-origin" or (origin is not None and _same_origin(origin, request))):
        raise CrossOriginRefused("Changes from the dashboard must come from the gateway's own page (an Origin or "
                                 "Sec-Fetch-Site header showing the same origin).")


def _check_body_type(request: web.Request) -> None:
    """A body must be declared JSON. One with no Content-Type at all passes only from a client that is
    no browser (no Origin, no Sec-Fetch-Site: scripts, ``curl --data-binary``); a page can send an
    untyped body (a Blob) without a preflight, but always with those headers."""
    if request.method not in _WITH_BODY or not request.body_exists or request.content_type == "application/json":
        return
    h = request.headers
    if "Content-Type" not in h and "Origin" not in h and "Sec-Fetch-Site" not in h:
        return
    sent = h.get("Content-Type") or "none"
    raise UnsupportedMediaType(f"The request body must be sent as 'Content-Type: application/json' "
                               f"(got {sent!r}).", param=None)


def browser_guard(cors_origins: Iterable[str], open_gateway: bool) -> Middleware:
    """The middleware. ``cors_origins``: normalised origins (config/loader.py) whose pages may call
    the API; ``open_gateway``: no master key, so Host must be a loopback name."""
    allowed = frozenset(cors_origins)

    @web.middleware
    async def guard(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        try:
            _check_headers(request)
            origin = request.headers.get("Origin")
            norm = _default_port(origin.strip().rstrip("/").lower()) if origin is not None else None
            listed = norm is not None and norm in allowed
            host = request.headers.get("Host")
            if open_gateway and host is not None and not _is_loopback_name(host):
                raise CrossOriginRefused(f"Host {host!r} is not a loopback name; without a master key the "
                                         "gateway answers only to localhost / 127.0.0.1 (set "
                                         "TIERROUTE_MASTER_KEY to serve other names).")
            if request.method == "OPTIONS" and origin is not None and "Access-Control-Request-Method" in request.headers:
                return _preflight(request, origin, listed)
            _check_body_type(request)
            _check_origin(request, norm, listed)
        except TierrouteError as e:
            return error_for_path(request, e)
        if listed:
            request[_CORS_ORIGIN] = origin  # type: ignore[assignment]
        return await handler(request)

    return guard


async def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: CORS headers for a listed origin, streams included (their headers are
    sent before the handler returns)."""
    origin = request.get(_CORS_ORIGIN)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = _EXPOSE
        response.headers["Vary"] = "Origin"
