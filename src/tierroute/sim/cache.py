"""Prompt caching, simply and deterministically, so a gateway's cache-token accounting can be tested.

Anthropic (explicit): the prompt up to each ``cache_control`` marker is a cacheable prefix. The
longest marked prefix this model saw within its TTL (5 minutes, or 1 hour for ``ttl: "1h"``) is a
cache read; the rest up to the last marker is a cache write (in the 5m or 1h bucket of that
marker); what follows is plain input. Every marked prefix is then (re)written with a fresh TTL.

OpenAI (automatic): a prompt of at least 1024 tokens is cached in steps of 128 tokens; the longest
such prefix seen for this model within 5 minutes is reported as ``cached_tokens``.

Prefixes are keyed by a hash of (model, salt, text up to the prefix) and kept per simulator
(``SimState.cache``); ``/_sim/reset`` forgets them. There is no minimum length for Anthropic.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from tierroute.sim.answer import Prompt, tokens

TTL_S = {"5m": 300.0, "1h": 3600.0}
OPENAI_MIN, OPENAI_STEP, OPENAI_TTL_S = 1024, 128, 300.0
_MAX_KEYS = 200_000


@dataclass(frozen=True, slots=True)
class CacheUse:
    read: int = 0
    created_5m: int = 0
    created_1h: int = 0

    @property
    def created(self) -> int:
        return self.created_5m + self.created_1h


NO_CACHE = CacheUse()


class PromptCache:
    def __init__(self) -> None:
        self._until: dict[bytes, float] = {}  # prefix hash -> expiry (monotonic seconds)

    def clear(self) -> None:
        self._until.clear()

    def use(self, prompt: Prompt) -> CacheUse:
        if prompt.cache_marks:
            return self._explicit(prompt)
        if prompt.auto_cache:
            return self._automatic(prompt)
        return NO_CACHE

    def _explicit(self, prompt: Prompt) -> CacheUse:
        now = time.monotonic()
        marks = sorted(set(prompt.cache_marks))
        keys = _prefix_keys(prompt, [end for end, _ in marks])
        read = 0
        for (end, _), key in zip(marks, keys, strict=True):
            if self._until.get(key, 0.0) > now:
                read = tokens(prompt.text[:end])
        last_end, last_ttl = marks[-1]
        created = max(0, tokens(prompt.text[:last_end]) - read)
        for (_, ttl), key in zip(marks, keys, strict=True):
            self._remember(key, now + TTL_S.get(ttl, TTL_S["5m"]))
        if last_ttl == "1h":
            return CacheUse(read, 0, created)
        return CacheUse(read, created, 0)

    def _automatic(self, prompt: Prompt) -> CacheUse:
        total = tokens(prompt.text)
        if total < OPENAI_MIN:
            return NO_CACHE
        now = time.monotonic()
        steps = list(range(OPENAI_MIN, total + 1, OPENAI_STEP))
        keys = _prefix_keys(prompt, [t * 4 for t in steps])
        read = 0
        for t, key in zip(steps, keys, strict=True):
            if self._until.get(key, 0.0) > now:
                read = t
            self._remember(key, now + OPENAI_TTL_S)
        return CacheUse(read)

    def _remember(self, key: bytes, until: float) -> None:
        if len(self._until) >= _MAX_KEYS:
            self._until.clear()
        self._until[key] = until


def _prefix_keys(prompt: Prompt, ends: list[int]) -> list[bytes]:
    """The hash of each prefix ``text[:end]`` (ends ascending), in one pass over the text."""
    h = hashlib.blake2b(f"{prompt.model}\x00{prompt.cache_salt}\x00".encode(), digest_size=16)
    out, at = [], 0
    for end in ends:
        h.update(prompt.text[at:end].encode())
        at = end
        out.append(h.copy().digest())
    return out
