"""Session affinity and prompt-cache economics: which session a request belongs to, which deployments
hold that session's prompt cache warm (and how many tokens of it), and what each candidate would cost
counting that cache.

- ``session_key(req)``: the client's session id (``ChatRequest.session``: Claude Code's session header or
  ``metadata.user_id``, the Responses API's ``prompt_cache_key``), else OpenAI's ``user``, else a hash of
  the stable prefix (system prompt + tools + first user turn) when it is long enough to be cached.
- ``VENDOR_CACHE``: each vendor's prompt-cache behaviour as data (TTL, automatic or by markers).
- ``warm_from_answer``: what an answer left warm on its deployment (``Router.note_answer``).
- ``Warm``: one session's warm deployments, as the store returned them; ``cache_cost``: a
  candidate's expected cost with that cache, and the sentence that says why.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import msgspec
from msgspec import UNSET

from tierroute.catalog import ModelInfo
from tierroute.types import ChatRequest, Deployment, Usage


@dataclass(frozen=True)
class CachePolicy:
    ttl_s: float  # how long a prefix stays cached after its last use (reads refresh it)
    automatic: bool  # the vendor caches every long prompt by itself; else only up to cache_control markers
    min_tokens: int  # shorter prompts are never cached
    ttl_1h_s: float | None = None  # the longer TTL markers may ask for (Anthropic ``ttl: "1h"``)


# Per provider (then per wire dialect, then the default). Vendors refresh the TTL on every hit.
VENDOR_CACHE: dict[str, CachePolicy] = {
    "anthropic": CachePolicy(ttl_s=300.0, automatic=False, min_tokens=1024, ttl_1h_s=3600.0),
    "openai": CachePolicy(ttl_s=300.0, automatic=True, min_tokens=1024),  # 5-10 min idle, up to 1 h off-peak
    "gemini": CachePolicy(ttl_s=300.0, automatic=True, min_tokens=1024),  # implicit caching, no TTL published
    "deepseek": CachePolicy(ttl_s=3600.0, automatic=True, min_tokens=64),  # disk cache, "hours to days"
}
DEFAULT_CACHE = CachePolicy(ttl_s=300.0, automatic=True, min_tokens=1024)


def cache_policy(dep: Deployment) -> CachePolicy:
    return VENDOR_CACHE.get(dep.provider) or VENDOR_CACHE.get(dep.dialect) or DEFAULT_CACHE


# ---------------------------------------------------------------------------- sessions


def _digest(kind: str, value: bytes | str) -> str:
    data = value.encode() if isinstance(value, str) else value
    return kind + ":" + hashlib.blake2b(data, digest_size=12).hexdigest()


_enc = msgspec.json.Encoder()


def session_key(req: ChatRequest, min_prefix_tokens: int = 1024) -> str | None:
    """The session this request belongs to, as a short fixed-size key, or None (no id and a prefix too
    short for any vendor to cache)."""
    s = req.session
    if s is not UNSET and s:
        return _digest("s", s)  # type: ignore[arg-type]
    if req.user:
        return _digest("u", req.user)
    # The stable prefix: every system/developer turn before the first user turn, the tools, and that
    # first user turn. It stays the same from one turn of a conversation to the next.
    parts: list[object] = []
    size = 0
    for m in req.messages:
        c = m.content
        parts.append((m.role, c))
        size += len(c) if isinstance(c, str) else 256 * len(c or ())
        if m.role == "user":
            break
    if req.tools:
        parts.append(req.tools)
        size += 200 * len(req.tools)
    if size < min_prefix_tokens * 4:
        blob = _enc.encode(parts)
        if len(blob) < min_prefix_tokens * 4:
            return None
    else:
        blob = _enc.encode(parts)
    return _digest("p", blob)


def marks_1h(req: ChatRequest) -> bool:
    """Whether the request's cache markers ask for the 1-hour TTL."""
    def one(cc: object) -> bool:
        return isinstance(cc, dict) and cc.get("ttl") == "1h"

    for t in req.tools or ():
        if one(t.cache_control):
            return True
    for m in req.messages:
        if one(m.cache_control):
            return True
        if isinstance(m.content, list) and any(one(getattr(p, "cache_control", None)) for p in m.content):
            return True
    return False


def has_marks(req: ChatRequest) -> bool:
    """Whether the request carries any prompt-cache marker (then a marker vendor writes its cache)."""
    if any(t.cache_control is not UNSET for t in req.tools or ()):
        return True
    for m in req.messages:
        if m.cache_control is not UNSET:
            return True
        if isinstance(m.content, list) and any(getattr(p, "cache_control", UNSET) is not UNSET for p in m.content):
            return True
    return False


# ---------------------------------------------------------------------------- warm state


@dataclass(frozen=True)
class WarmEntry:
    dep: str  # deployment id
    tokens: int  # prompt tokens cached there (the next turn's prefix)
    expires: float  # unix seconds
    ts: float  # unix seconds of the answer

    def encode(self) -> str:
        return f"{self.tokens}|{int(self.expires * 1000)}|{int(self.ts * 1000)}"

    @classmethod
    def decode(cls, dep: str, s: str) -> WarmEntry | None:
        try:
            tokens, exp, ts = s.split("|")
            return cls(dep, int(tokens), int(exp) / 1000, int(ts) / 1000)
        except ValueError:
            return None


def warm_from_answer(req: ChatRequest, dep: Deployment, usage: Usage, *, ttl_s: float | None = None,
                     now: float | None = None) -> WarmEntry | None:
    """What this answer left cached on ``dep``, or None when nothing (too short, no markers)."""
    policy = cache_policy(dep)
    read, write = usage.cache_read(), usage.cache_write()
    tokens = read + write
    if policy.automatic and usage.prompt_tokens >= policy.min_tokens:
        tokens = max(tokens, usage.prompt_tokens)
    if tokens <= 0:
        return None
    if ttl_s is None:
        ttl_s = policy.ttl_s
        if policy.ttl_1h_s is not None and (usage.cache_write_1h() > 0 or marks_1h(req)):
            ttl_s = policy.ttl_1h_s
    now = time.time() if now is None else now
    return WarmEntry(dep.id, tokens, now + ttl_s, now)


class Warm:
    """One session's warm deployments (expired entries already dropped)."""

    __slots__ = ("key", "entries", "marks")

    def __init__(self, key: str, entries: dict[str, WarmEntry], marks: bool = False) -> None:
        self.key = key
        self.entries = entries
        self.marks = marks  # the request carries cache markers (a marker vendor will write)

    @classmethod
    def live(cls, key: str, entries: list[WarmEntry], now: float | None = None) -> Warm:
        now = time.time() if now is None else now
        return cls(key, {e.dep: e for e in entries if e.expires > now})

    @property
    def latest(self) -> WarmEntry | None:
        return max(self.entries.values(), key=lambda e: e.ts, default=None)

    def on(self, m: ModelInfo) -> WarmEntry | None:
        """The warm entry among ``m``'s deployments with the most cached tokens."""
        if not self.entries:
            return None
        best = None
        for d in m.deployments:
            e = self.entries.get(d.id)
            if e is not None and (best is None or e.tokens > best.tokens):
                best = e
        return best


def _per_m(p: float) -> str:
    return f"${p:.2f}/M" if p >= 0.1 or p == 0 else f"${p:.4g}/M"


def cache_cost(m: ModelInfo, tokens: int, out: int, warm: WarmEntry | None, marks: bool) -> tuple[float, str]:
    """(expected USD, why) for ``tokens`` prompt tokens and ``out`` output tokens on ``m``: the tokens it
    holds warm at the cache-read price, the rest at the cache-write price (a vendor with markers, when
    the request has them) or the input price."""
    writes = marks and m.cache_write_per_m is not None and not _automatic(m)
    write_p = m.cache_write_per_m if writes and m.cache_write_per_m is not None else m.input_per_m
    rest_label = "cache write" if writes else "input"
    if warm is None or warm.tokens <= 0:
        cost = m.cost(tokens, out, cache_write=tokens if writes else 0)
        return cost, f"cold: {tokens:,} tokens at {_per_m(write_p)} {rest_label}"
    cached = min(warm.tokens, tokens)
    rest = tokens - cached
    read_p = m.cache_read_per_m if m.cache_read_per_m is not None else m.input_per_m
    cost = m.cost(tokens, out, cache_read=cached, cache_write=rest if writes else 0)
    why = f"warm cache on {warm.dep}: {cached:,} tokens at {_per_m(read_p)}"
    if m.cache_read_per_m is None:
        why += " (no cache price published: input)"
    if rest:
        why += f" + {rest:,} at {_per_m(write_p)} {rest_label}"
    return cost, why


def _automatic(m: ModelInfo) -> bool:
    return all(cache_policy(d).automatic for d in m.deployments) if m.deployments else True
