"""Who is calling: the master key, checked in constant time."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from tierroute.api.browser_guard import is_browser_path
from tierroute.api.errors import error_response
from tierroute.api.keys import GATEWAY
from tierroute.errors import AuthRequired, TierrouteError

if TYPE_CHECKING:
    from tierroute.gateway import Gateway
    from tierroute.keys import KeyInfo

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def presented_key(request: web.Request) -> str | None:
    """The key a client sent: OpenAI-style bearer token or Anthropic-style x-api-key. HTTP Basic
    (a browser's cached login) counts only on /ui: elsewhere a page on another site could make the
    browser send it."""
    auth = request.headers.get("Authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return token.strip()
        if scheme == "basic" and is_browser_path(request.path):  # any user name, the master key as password
            try:
                return base64.b64decode(token.strip()).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                return None
        return None
    return request.headers.get("x-api-key") or request.headers.get("api-key")


def authenticate(request: web.Request, gw: Gateway) -> KeyInfo | None:
    """For the model endpoints: the master key (None) or a live virtual key; 401 otherwise. With no
    master key configured the gateway is open, but a virtual key presented still names its tenant."""
    key = presented_key(request)
    if key is not None and key.startswith("tr-"):
        info = gw.keys.lookup(key)
        if info is not None:
            return info
        if not gw.master_key:
            raise AuthRequired("Unknown or revoked virtual key.")
    require_key(request, gw.master_key)
    return None


def require_key(request: web.Request, master_key: str) -> str:
    """Returns the caller's identity ("master") or raises 401. No master key configured means an open
    gateway, which config validation allows only on a loopback address."""
    if not master_key:
        return "master"
    key = presented_key(request)
    if key is None:
        basic = request.headers.get("Authorization", "").lower().startswith("basic ")
        why = "Basic auth is accepted only on /ui." if basic else "Missing API key."
        raise AuthRequired(f"{why} Send 'Authorization: Bearer <key>' (or 'x-api-key: <key>').")
    if not hmac.compare_digest(key.encode(), master_key.encode()):
        raise AuthRequired("Incorrect API key provided.")
    return "master"


def guarded(handler: Handler, *, browser: bool = False) -> Handler:
    """Wrap a handler another package serves behind the master key. ``browser``: answer 401 with a
    Basic challenge, so a person opening /ui gets the browser's own key prompt."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            require_key(request, request.app[GATEWAY].master_key)
        except TierrouteError as e:
            return error_response(e, {"WWW-Authenticate": 'Basic realm="tierroute"'} if browser else None)
        return await handler(request)

    return wrapped
