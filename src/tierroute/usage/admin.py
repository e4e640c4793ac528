"""HTTP routes: ``/admin/usage`` (JSON reports) and the ``/ui`` dashboard. The caller mounts them
behind the master key; nothing here checks keys."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from tierroute.usage import reports
from tierroute.usage.recorder import UsageRecorder

UI_DIR = Path(__file__).parent / "ui"
log = logging.getLogger("tierroute")

# Returns quota state per deployment id: the limits package's snapshot, or {"limit", "remaining"}
# per deployment (see normalize_headroom). May be a coroutine function.
HeadroomFn = Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]]


def _error(message: str, param: str | None, status: int = 400, code: str = "invalid_request") -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}},
        status=status,
    )


def _store_missing() -> web.Response:
    return _error("usage storage is off (usage.enabled: false), so there is nothing to report", None, 404,
                  "usage_disabled")  # fmt: skip


async def _read(recorder: UsageRecorder, report: Callable[[], Awaitable[Any]]) -> Any:
    """Flush, then run one report against the store. The stores drop a connection that failed and open
    a new one on the next call, so a connection gone stale while the database was away costs one retry
    here, not an error for the first caller after it is back. Still failing: ``_StoreDown`` (503)."""
    for attempt in (1, 2):
        try:
            await recorder.flush()  # a report asked for right after traffic includes that traffic
            return await report()
        except reports.ReportError:
            raise
        except Exception as exc:  # the store's own errors (psycopg, sqlite3, OSError) differ per backend
            if attempt == 2:
                log.warning("usage report failed, store unavailable: %s: %s", type(exc).__name__, exc)
                raise _StoreDown(type(exc).__name__) from None
    raise AssertionError("unreachable")


class _StoreDown(Exception):
    """The usage store did not answer a report (twice)."""


def _store_down(e: _StoreDown) -> web.Response:
    return web.json_response(
        {"error": {"message": f"The usage store is unavailable ({e}), so reports cannot be read now; requests are "
                              "still served and their usage is kept until the store is back. Try again shortly.",
                   "type": "server_error", "param": None, "code": "usage_store_unavailable"}},
        status=503, headers={"Retry-After": "5"},
    )


def admin_routes(
    recorder: UsageRecorder, headroom: HeadroomFn | None = None, prefix: str = "/admin/usage"
) -> list[web.RouteDef]:
    """``GET {prefix}?by=model|provider|task|key|deployment|cache&bucket=hour|day&since=7d`` (rows),
    ``GET {prefix}/savings?since=7d`` (the per-task premium-vs-routed table),
    ``GET {prefix}/latency?by=model&since=7d`` (p50/p95), ``GET {prefix}/dashboard`` (all of the
    dashboard's data in one call), ``GET {prefix}/headroom`` (quota headroom from ``headroom``)."""

    def _since(request: web.Request) -> float:
        return reports.parse_since(request.query.get("since"))

    async def summary(request: web.Request) -> web.Response:
        if recorder.store is None:
            return _store_missing()
        store = recorder.store
        try:
            by = request.query.get("by", "model")
            bucket = request.query.get("bucket") or None
            since = _since(request)
            rows = await _read(recorder, lambda: reports.usage_summary(store, by, bucket, since))
        except reports.ReportError as e:
            return _error(str(e), e.param)
        except _StoreDown as e:
            return _store_down(e)
        return web.json_response({"object": "list", "by": by, "bucket": bucket, "data": rows})

    async def savings(request: web.Request) -> web.Response:
        if recorder.store is None:
            return _store_missing()
        store = recorder.store
        try:
            since = _since(request)
            rows = await _read(recorder, lambda: reports.task_savings(store, since))
        except reports.ReportError as e:
            return _error(str(e), e.param)
        except _StoreDown as e:
            return _store_down(e)
        return web.json_response({"object": "list", "data": rows})

    async def latency(request: web.Request) -> web.Response:
        if recorder.store is None:
            return _store_missing()
        store = recorder.store
        try:
            by, since = request.query.get("by", "model"), _since(request)
            rows = await _read(recorder, lambda: reports.latency_by(store, by, since))
        except reports.ReportError as e:
            return _error(str(e), e.param)
        except _StoreDown as e:
            return _store_down(e)
        return web.json_response({"object": "list", "data": rows})

    async def _headroom() -> dict[str, Any] | None:
        return normalize_headroom(await _call(headroom))

    async def headroom_h(_request: web.Request) -> web.Response:
        return web.json_response({"data": await _headroom()})

    async def dashboard(request: web.Request) -> web.Response:
        return await _dashboard(recorder, headroom, request)

    return [
        web.route("GET", prefix, summary),
        web.route("GET", prefix + "/savings", savings),
        web.route("GET", prefix + "/latency", latency),
        web.route("GET", prefix + "/headroom", headroom_h),
        web.route("GET", prefix + "/dashboard", dashboard),
    ]


_TYPES = {".js": "text/javascript", ".css": "text/css", ".md": "text/plain", ".png": "image/png"}


def normalize_headroom(snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per deployment, the tightest quota's remaining share in percent. Takes the limits package's
    snapshot (``{"limits": {"rpm", "tpm", "rpd"}, "used": {"rpm_used", ...}}``) or a plain
    ``{"limit", "remaining"}``."""
    if not snapshot:
        return None
    out: dict[str, Any] = {}
    for dep, h in snapshot.items():
        if not isinstance(h, dict):
            continue
        pcts: dict[str, float] = {}
        if "limit" in h and "remaining" in h and h["limit"]:
            pcts["quota"] = 100.0 * h["remaining"] / h["limit"]
        limits, used = h.get("limits") or {}, h.get("used") or {}
        for name in ("rpm", "tpm", "rpd"):
            lim = limits.get(name)
            if lim:
                pcts[name] = max(0.0, 100.0 * (1 - (used.get(f"{name}_used") or 0) / lim))
        if pcts:
            binding = min(pcts, key=lambda k: pcts[k])
            out[dep] = {"remaining_pct": round(pcts[binding], 2), "binding": binding, "all": pcts}
        else:
            out[dep] = {"remaining_pct": None, "binding": "unlimited", "all": {}}
    return out


async def _call(fn: HeadroomFn | None) -> dict[str, Any] | None:
    if fn is None:
        return None
    res = fn()
    if inspect.isawaitable(res):
        res = await res
    return res


async def _dashboard(
    recorder: UsageRecorder | None, quota: HeadroomFn | None, request: web.Request
) -> web.Response:
    """Everything the dashboard draws, in one JSON: ``?since=7d&bucket=hour|day``."""
    if recorder is None or recorder.store is None:
        return _store_missing()
    try:
        bucket = request.query.get("bucket", "hour")
        if bucket not in reports.BUCKETS:
            return _error(f"bucket={bucket!r} is not a time bucket: use hour or day", "bucket")
        since_s = reports.parse_since(request.query.get("since"))
        store = recorder.store
        out = await _read(recorder, lambda: reports.dashboard_data(store, since_s, bucket))
    except reports.ReportError as e:
        return _error(str(e), e.param)
    except _StoreDown as e:
        return _store_down(e)
    out["headroom"] = normalize_headroom(await _call(quota))
    out["recorder"] = recorder.stats()
    return web.json_response(out)


def ui_routes(
    recorder: UsageRecorder | None = None, quota: HeadroomFn | None = None, prefix: str = "/ui"
) -> list[web.RouteDef]:
    """The dashboard: ``GET {prefix}`` (the page), ``GET {prefix}/static/...`` (its script, styles and
    Chart.js, shipped in ``ui/vendor`` with its licence) and ``GET {prefix}/data`` (everything the
    page draws, one JSON; with ``quota`` it includes quota headroom per deployment). All plain
    RouteDefs, so the caller can wrap each handler in its auth. The page sends the key from the URL
    fragment ``#key=...`` (never sent to the server) as a bearer token when given; otherwise it
    relies on the browser's own Basic-auth prompt for the origin."""
    index = (UI_DIR / "index.html").read_text().replace("__PREFIX__", prefix)
    root = UI_DIR.resolve()

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=index, content_type="text/html",
                            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})  # fmt: skip

    async def static(request: web.Request) -> web.StreamResponse:
        path = (root / request.match_info["path"]).resolve()
        if not path.is_relative_to(root) or path.suffix not in _TYPES or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(
            path, headers={"Content-Type": _TYPES[path.suffix], "Cache-Control": "no-cache"}
        )

    async def data(request: web.Request) -> web.Response:
        return await _dashboard(recorder, quota, request)

    return [
        web.route("GET", prefix, page),
        web.route("GET", prefix + "/", page),
        web.route("GET", prefix + "/static/{path:.+}", static),
        web.route("GET", prefix + "/data", data),
    ]
