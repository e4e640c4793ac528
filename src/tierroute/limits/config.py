"""Configuration of the limits layer: the ``limits:`` section of tierroute.yaml (``LimitsConfig``)
and the per-deployment quotas of rate_limits.yaml (``RateLimits``, ``load_rate_limits``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import yaml


class LimitsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The ``limits:`` section of config/tierroute.yaml. Every field has a default that suits one
    gateway in front of free and tier-1 vendor accounts."""

    # false: no quotas, cooldowns or health tracking at all (for measuring what they cost).
    enabled: bool = True
    # None keeps every counter in this process (daily counters persist to ``state_path``);
    # "redis://host:6379/0" shares quotas, cooldowns and health with every instance on that Redis.
    redis_url: str | None = None
    # Namespace for Redis keys, so several gateways (or test runs) can share one Redis.
    redis_prefix: str = "tierroute:"
    # A Redis call slower than this counts as Redis being away: serve on local state instead.
    # (Loopback calls take ~0.1 ms; the margin is for a busy event loop, not for Redis.)
    redis_timeout_s: float = 1.0
    # Connections per instance; a burst beyond this waits (up to 2 s) for a free one.
    redis_max_connections: int = 64
    # How often to try Redis again after it went away.
    redis_retry_s: float = 1.0
    # SQLite file that keeps in-process daily (rpd) counters across restarts; None = memory only.
    state_path: str | None = ".tierroute/limits.db"
    # rpm / tpm are sliding 60 s windows kept as this many buckets: more buckets admit closer to the
    # limit right after a burst, fewer cost less. A request never passes if the last 60 s are full.
    window_buckets: int = msgspec.field(default=12)
    # A concurrency slot whose release never came (crashed instance) frees itself after this long.
    lease_ttl_s: float = 600.0
    # Retry-After to report when only the concurrency cap is in the way (slots free on release).
    concurrency_retry_s: float = 1.0
    # A vendor 429 without Retry-After blocks the deployment this long.
    vendor_429_default_s: float = 5.0

    # --- health / circuit breaker
    # Outcomes older than this leave the rolling window.
    window_s: float = 60.0
    # The failure ratio only trips the breaker once the window holds this many outcomes...
    min_requests: int = 10
    # ...and this share of them failed (5xx, timeout, 529, auth).
    failure_ratio: float = 0.5
    # This many failures in a row trip the breaker whatever the window says.
    consecutive_failures: int = 5
    # An auth failure (bad or revoked key) trips the breaker at once: retrying will not fix a key.
    auth_failure_trips: bool = True
    # First cooldown; each re-open without a healthy period in between doubles it, up to the max.
    cooldown_base_s: float = 5.0
    cooldown_max_s: float = 300.0
    # After this long closed and healthy, the back-off starts from cooldown_base_s again.
    backoff_reset_s: float = 600.0
    # A half-open probe that never reported back is given up after this long and another admitted.
    probe_timeout_s: float = 60.0
    # Weight of the newest sample in the EWMA latency and error rate the router ranks by.
    ewma_alpha: float = 0.2
    # With Redis: how often breaker state is exchanged with other instances.
    health_sync_s: float = 0.2

    def __post_init__(self) -> None:
        checks = [
            ("window_buckets", self.window_buckets >= 1, "use an integer >= 1, e.g. 12"),
            ("redis_timeout_s", self.redis_timeout_s > 0, "use a positive number of seconds, e.g. 1"),
            ("window_s", self.window_s > 0, "use a positive number of seconds, e.g. 60"),
            ("min_requests", self.min_requests >= 1, "use an integer >= 1, e.g. 10"),
            ("failure_ratio", 0 < self.failure_ratio <= 1, "use a ratio in (0, 1], e.g. 0.5"),
            ("consecutive_failures", self.consecutive_failures >= 1, "use an integer >= 1, e.g. 5"),
            ("cooldown_base_s", self.cooldown_base_s > 0, "use a positive number of seconds, e.g. 5"),
            ("cooldown_max_s", self.cooldown_max_s >= self.cooldown_base_s,
             "make it >= cooldown_base_s, e.g. 300"),
            ("ewma_alpha", 0 < self.ewma_alpha <= 1, "use a weight in (0, 1], e.g. 0.2"),
        ]
        for key, ok, fix in checks:
            if not ok:
                raise msgspec.ValidationError(f"limits.{key} = {getattr(self, key)!r} is invalid: {fix}")


# ---------------------------------------------------------------------------- daily reset


_RESET_RE = re.compile(r"^\s*(?:(\d{1,2}):(\d{2}))?\s*([A-Za-z_+\-/0-9]+)?\s*$")


@dataclass(frozen=True)
class DailyReset:
    """When a vendor's day starts: a wall-clock time in a time zone (DST-aware)."""

    hour: int = 0
    minute: int = 0
    tz: str = "UTC"

    @classmethod
    def parse(cls, text: str) -> DailyReset:
        m = _RESET_RE.match(text or "")
        if not m or not (m.group(1) or m.group(3)):
            raise ValueError(f"{text!r} is not a reset time")
        hour, minute = int(m.group(1) or 0), int(m.group(2) or 0)
        tz = m.group(3) or "UTC"
        if hour > 23 or minute > 59:
            raise ValueError(f"{text!r} has no such time of day")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"{tz!r} is not a known time zone") from e
        return cls(hour, minute, tz)

    def day(self, now: float) -> tuple[str, float]:
        """(the vendor's day id at unix time ``now``, unix time of the next reset)."""
        zone = ZoneInfo(self.tz)
        local = datetime.fromtimestamp(now, zone)
        start = local.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        if start > local:
            start = _same_wall_time(start - timedelta(days=1), zone)
        nxt = _same_wall_time(start + timedelta(days=1), zone)
        return start.date().isoformat(), nxt.timestamp()

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d} {self.tz}"


def _same_wall_time(dt: datetime, zone: ZoneInfo) -> datetime:
    # Re-attach the zone so a DST change between the two days moves the instant, not the wall time.
    return dt.replace(tzinfo=None).replace(tzinfo=zone)


# ---------------------------------------------------------------------------- quotas


@dataclass(frozen=True)
class Quota:
    """One deployment's limits; None = no limit of that kind."""

    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None
    max_concurrent: int | None = None
    daily_reset: DailyReset = field(default_factory=DailyReset)

    def empty(self) -> bool:
        return self.rpm is None and self.tpm is None and self.rpd is None and self.max_concurrent is None

    def describe(self) -> dict[str, Any]:
        return {"rpm": self.rpm, "tpm": self.tpm, "rpd": self.rpd, "max_concurrent": self.max_concurrent,
                "daily_reset": str(self.daily_reset)}


_FIELDS = ("rpm", "tpm", "rpd", "max_concurrent", "daily_reset")
_UNLIMITED = Quota()


@dataclass
class RateLimits:
    """Quotas by deployment id (``provider/model``), with per-provider defaults underneath."""

    deployments: dict[str, Quota] = field(default_factory=dict)
    providers: dict[str, Quota] = field(default_factory=dict)
    source: str = "<memory>"

    def for_deployment(self, dep_id: str) -> Quota:
        q = self.deployments.get(dep_id)
        if q is not None:
            return q
        return self.providers.get(dep_id.split("/", 1)[0], _UNLIMITED)


class RateLimitsError(ValueError):
    """A bad rate_limits.yaml: the file, the problem (naming its key path) and the fix, kept apart so
    the gateway reports them in its config-error form without re-parsing the text."""

    def __init__(self, file: str, problem: str, fix: str) -> None:
        self.file, self.problem, self.fix = file, problem, fix
        super().__init__(f"{file}: {problem}; {fix}")


def _merge(base: Quota | None, raw: dict[str, Any]) -> Quota:
    vals = {k: getattr(base, k) for k in _FIELDS} if base else {}
    vals.update(raw)
    return Quota(**vals)


def _parse_entry(path: str, where: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RateLimitsError(path, f"{where} must be a mapping of limits, got {type(raw).__name__}",
                              "write it like {rpm: 15, rpd: 200}")
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k not in _FIELDS:
            raise RateLimitsError(path, f"{where}.{k} is not a known limit", f"use one of {', '.join(_FIELDS)}")
        if k == "daily_reset":
            try:
                out[k] = DailyReset.parse(str(v))
            except ValueError as e:
                raise RateLimitsError(path, f"{where}.daily_reset: {e}", 'write it as "HH:MM Zone", e.g. '
                                      '"00:00 America/Los_Angeles" or "00:00 UTC"') from None
        elif v is None:
            out[k] = None
        elif isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise RateLimitsError(path, f"{where}.{k} = {v!r} is invalid",
                                  "use a whole number >= 1, or null for no limit")
        else:
            out[k] = v
    return out


def parse_rate_limits(data: Any, path: str = "<memory>") -> RateLimits:
    if data is None:
        return RateLimits(source=path)
    if not isinstance(data, dict):
        raise RateLimitsError(path, "the top level must be a mapping with `providers:` and `deployments:`",
                              "e.g. deployments: {gemini/gemini-2.0-flash: {rpm: 15}}")
    for k in data:
        if k not in ("providers", "deployments"):
            raise RateLimitsError(path, f"unknown top-level key {k!r}",
                                  "use `providers:` (defaults per provider) or `deployments:` (per provider/model)")
    provs: dict[str, Quota] = {}
    for name, raw in (data.get("providers") or {}).items():
        provs[str(name)] = _merge(None, _parse_entry(path, f"providers.{name}", raw))
    deps: dict[str, Quota] = {}
    for dep_id, raw in (data.get("deployments") or {}).items():
        dep_id = str(dep_id)
        if "/" not in dep_id:
            raise RateLimitsError(path, f"deployments.{dep_id} is not a deployment id",
                                  "write it as provider/model, e.g. gemini/gemini-2.0-flash")
        base = provs.get(dep_id.split("/", 1)[0])
        deps[dep_id] = _merge(base, _parse_entry(path, f"deployments.{dep_id}", raw))
    return RateLimits(deployments=deps, providers=provs, source=path)


def load_rate_limits(path: str) -> RateLimits:
    """Read config/rate_limits.yaml. A bad file raises RateLimitsError naming the file, the key and the fix."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise RateLimitsError(path, f"cannot read the rate limits file ({e.strerror})",
                              "check the path or remove `rate_limits:` from the config") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RateLimitsError(path, f"not valid YAML ({e})", "fix the syntax at the line shown") from None
    return parse_rate_limits(data, path)
