"""The one aiohttp ``ClientSession`` every adapter shares.

One pool per process (per event loop, so tests that run several loops each get their own) keeps
connections to each vendor alive between requests: a new TLS handshake per call would cost more
than everything else the gateway does. Timeouts are per call: ``sock_connect`` bounds the TCP/TLS
connect, ``sock_read`` (``dep.timeout_s``) bounds the wait for the first byte of the answer and,
on a stream, the idle gap between two chunks. There is deliberately no total timeout: a long
healthy stream must not be cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import aiohttp

CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 60.0

_session: aiohttp.ClientSession | None = None
_session_loop: asyncio.AbstractEventLoop | None = None
_timeouts: dict[float, aiohttp.ClientTimeout] = {}


def timeout_for(seconds: float) -> aiohttp.ClientTimeout:
    """A cached ``ClientTimeout`` per distinct deadline (deployments share a handful of values)."""
    t = _timeouts.get(seconds)
    if t is None:
        t = aiohttp.ClientTimeout(total=None, sock_connect=min(CONNECT_TIMEOUT_S, seconds), sock_read=seconds)
        _timeouts[seconds] = t
    return t


def _proxy_configured() -> bool:
    return any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                                            "ALL_PROXY", "all_proxy"))


def session() -> aiohttp.ClientSession:
    """The shared session, created on first use in the running loop."""
    global _session, _session_loop
    s = _session
    if s is not None and not s.closed and _session_loop is asyncio.get_running_loop():
        return s
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(
        limit=0,  # no global cap: limits/ decides how many calls run, not the pool
        limit_per_host=0,
        keepalive_timeout=KEEPALIVE_S,
        ttl_dns_cache=300,
    )
    _session = aiohttp.ClientSession(
        connector=connector,
        timeout=timeout_for(60.0),
        auto_decompress=True,
        # honouring HTTPS_PROXY costs aiohttp a thread hop per request, so only when one is set
        trust_env=_proxy_configured(),
        # vendors' cookies (Cloudflare's and the like) must not ride along between tenants' calls
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    _session_loop = loop
    return _session


async def close() -> None:
    """Close the shared session (at shutdown; the next call opens a new one)."""
    global _session, _session_loop
    s, _session, _session_loop = _session, None, None
    if s is not None and not s.closed:
        with contextlib.suppress(Exception):
            await s.close()
