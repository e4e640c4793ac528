"""The in-process view of the cache: entries by id, the exact-key map, one vector index per
partition, and LRU order for eviction. Both stores keep one: the memory store as the cache itself,
the Redis store as a mirror of what Redis holds."""

from __future__ import annotations

import time
from collections import OrderedDict

from .entry import CacheEntry
from .guards import TextProfile, profile
from .index import VectorIndex


class _LazyProfile:
    """Stands in for a TextProfile and computes it when an attribute is first read."""

    __slots__ = ("_profile", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._profile: TextProfile | None = None

    def __getattr__(self, name: str):
        if self._profile is None:
            self._profile = profile(self._text)
        return getattr(self._profile, name)


class LocalIndex:
    def __init__(self, dim: int, max_entries: int) -> None:
        self.dim = dim
        self.max_entries = max_entries
        self.entries: OrderedDict[str, CacheEntry] = OrderedDict()  # LRU first
        self._exact: dict[str, str] = {}
        self._parts: dict[str, VectorIndex] = {}
        self._profiles: dict[str, TextProfile] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, e: CacheEntry) -> list[str]:
        """Insert (or replace) an entry; returns the ids evicted to stay within max_entries."""
        old_id = self._exact.get(e.exact_key)
        if old_id is not None and old_id != e.id:
            self.remove(old_id)
        self.remove(e.id)
        self.entries[e.id] = e
        self._exact[e.exact_key] = e.id
        v = e.vec()
        if v is not None and len(v) == self.dim:
            part = self._parts.get(e.partition)
            if part is None:
                part = self._parts[e.partition] = VectorIndex(self.dim)
            part.add(e.id, v)
        evicted: list[str] = []
        while len(self.entries) > self.max_entries:
            victim = next(iter(self.entries))
            self.remove(victim)
            evicted.append(victim)
        return evicted

    def remove(self, entry_id: str) -> CacheEntry | None:
        e = self.entries.pop(entry_id, None)
        if e is None:
            return None
        if self._exact.get(e.exact_key) == entry_id:
            del self._exact[e.exact_key]
        part = self._parts.get(e.partition)
        if part is not None:
            part.remove(entry_id)
            if len(part) == 0:
                del self._parts[e.partition]
        self._profiles.pop(entry_id, None)
        return e

    def touch(self, entry_id: str) -> None:
        if entry_id in self.entries:
            self.entries.move_to_end(entry_id)

    def exact_id(self, key: str) -> str | None:
        return self._exact.get(key)

    def exact(self, key: str, now: float | None = None) -> CacheEntry | None:
        eid = self._exact.get(key)
        if eid is None:
            return None
        e = self.entries[eid]
        if e.expires_at <= (now or time.time()):
            self.remove(eid)
            return None
        return e

    def neighbours(self, partition: str, vec, k: int, floor: float) -> list[tuple[CacheEntry, float]]:
        part = self._parts.get(partition)
        if part is None:
            return []
        now = time.time()
        out = []
        for eid, sim in part.search(vec, k, floor):
            e = self.entries[eid]
            if e.expires_at <= now:
                self.remove(eid)
                continue
            out.append((e, sim))
        return out

    def profile_of(self, e: CacheEntry) -> TextProfile:
        """The guards' view of a cached turn, computed on first use: the policy reads only the
        nearest candidates' profiles, so the others are never computed."""
        p = self._profiles.get(e.id)
        if p is None:
            p = self._profiles[e.id] = _LazyProfile(e.text or "")  # type: ignore[assignment]
        return p

    def expired(self, now: float) -> list[str]:
        return [eid for eid, e in self.entries.items() if e.expires_at <= now]

    def matching(self, tenant: str | None, model: str | None) -> list[str]:
        return [eid for eid, e in self.entries.items()
                if (tenant is None or e.tenant == tenant) and (model is None or e.model == model)]
