"""One upstream HTTP call: post, fill ``CallInfo``, turn failures into ``ProviderError``.

Shared by the three adapters so timeouts, rate-limit headers and error mapping behave the same
whichever vendor answers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import aiohttp

from tierroute.errors import ProviderError
from tierroute.providers import errmap
from tierroute.providers.http import session, timeout_for
from tierroute.providers.ratelimit import parse_ratelimit
from tierroute.types import CallInfo, Deployment

_perf = time.perf_counter


async def post(url: str, body: bytes, headers: Mapping[str, str], dep: Deployment, info: CallInfo) -> bytes:
    """POST and return the 2xx body; any other outcome raises a mapped ``ProviderError``."""
    try:
        async with session().post(url, data=body, headers=headers, timeout=timeout_for(dep.timeout_s)) as resp:
            status = info.status = resp.status
            info.first_byte_at = _perf()
            rh = resp.headers
            info.ratelimit = parse_ratelimit(rh)
            data = await resp.read()
    except ProviderError:
        raise
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise errmap.from_exception(exc, dep, info.status) from None
    if status >= 300:
        raise errmap.from_response(status, data, rh, dep)
    return data


async def open_stream(url: str, body: bytes, headers: Mapping[str, str], dep: Deployment,
                      info: CallInfo) -> aiohttp.ClientResponse:
    """POST and return the open 2xx response for the caller to read and then ``close()``."""
    try:
        resp = await session().post(url, data=body, headers=headers, timeout=timeout_for(dep.timeout_s))
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise errmap.from_exception(exc, dep) from None
    info.status = resp.status
    info.ratelimit = parse_ratelimit(resp.headers)
    if resp.status >= 300:
        try:
            data = await resp.read()
        except (TimeoutError, aiohttp.ClientError):
            data = b""
        finally:
            resp.release()
        raise errmap.from_response(resp.status, data, resp.headers, dep)
    return resp


def transport_error(exc: BaseException, dep: Deployment, info: CallInfo) -> ProviderError:
    return errmap.from_exception(exc, dep, info.status)
