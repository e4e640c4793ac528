"""The two-layer response cache the API calls: exact first, then semantic."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal, Protocol

import msgspec
import numpy as np

from tierroute.embedding import Embedder, default_embedder, embed_async
from tierroute.types import ChatRequest, ChatResponse

from .config import CacheConfig
from .controls import CacheContext
from .entry import CacheEntry
from .guards import profile
from .keys import exact_key, partition_key, semantic_text
from .local_index import LocalIndex
from .policy import Policy, load_calibration
from .store_memory import MemoryStore
from .store_redis import RedisStore

log = logging.getLogger("tierroute.cache")
_decode_response = msgspec.json.Decoder(ChatResponse).decode
_encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class CacheHit:
    response: ChatResponse  # the saved answer with a fresh id and created time
    kind: Literal["exact", "semantic"]
    similarity: float | None  # cosine of the two user turns, for a semantic hit
    prompt_tokens: int  # what the original call consumed, i.e. what this hit saved
    completion_tokens: int
    model: str  # the catalog model that produced the saved answer


class Store(Protocol):
    kind: str
    local: LocalIndex

    async def start(self) -> None: ...
    async def sync(self) -> None: ...
    async def verify(self, e: CacheEntry) -> CacheEntry | None: ...
    async def put(self, e: CacheEntry) -> list[str]: ...
    async def remove(self, ids: list[str]) -> None: ...
    async def purge(self, tenant: str | None, model: str | None) -> int: ...
    async def ready(self) -> bool: ...
    async def close(self) -> None: ...


def _cacheable(resp: ChatResponse) -> bool:
    return bool(resp.choices) and all(
        c.finish_reason in ("stop", "length", "tool_calls") for c in resp.choices
    )


class ResponseCache:
    def __init__(self, cfg: CacheConfig, store: Store, embedder: Embedder | None, policy: Policy | None) -> None:
        self.cfg = cfg
        self._store = store
        self._embedder = embedder
        self._policy = policy
        self._started = False
        self._start_lock = asyncio.Lock()
        # Vectors computed by a lookup, reused by the store that follows a miss (saves one embedding).
        self._recent_vecs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lat_ms: deque[float] = deque(maxlen=2048)
        self._n = {"hit_exact": 0, "hit_semantic": 0, "miss": 0, "bypass": 0, "stored": 0, "evicted": 0,
                   "vetoed": 0, "errors": 0}

    @property
    def policy(self) -> Policy | None:
        return self._policy

    async def _ensure_started(self) -> None:
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                await self._store.start()
                self._started = True

    async def _embed(self, text: str) -> np.ndarray:
        assert self._embedder is not None
        return (await embed_async(self._embedder, [text]))[0]

    def _semantic_allowed(self, req: ChatRequest) -> bool:
        return (self._policy is not None and self._embedder is not None and self.cfg.semantic
                and (req.temperature is None or req.temperature <= self.cfg.max_temperature))

    # ---------------------------------------------------------------------------------- lookup

    async def lookup(self, req: ChatRequest, ctx: CacheContext) -> CacheHit | None:
        if not (self.cfg.enabled and ctx.enabled) or ctx.controls.no_cache:
            self._n["bypass"] += 1
            return None
        t0 = time.perf_counter()
        try:
            hit = await self._lookup(req, ctx)
        except Exception:  # noqa: BLE001 - a broken cache must never fail the request
            self._n["errors"] += 1
            log.exception("cache lookup failed; treating as a miss")
            hit = None
        self._lat_ms.append((time.perf_counter() - t0) * 1000)
        self._n["miss" if hit is None else f"hit_{hit.kind}"] += 1
        return hit

    async def _lookup(self, req: ChatRequest, ctx: CacheContext) -> CacheHit | None:
        await self._ensure_started()
        text = semantic_text(req) if self._semantic_allowed(req) else None
        early: asyncio.Future[np.ndarray] | None = None
        if text is not None and self._store.kind == "redis":
            # Embed while Redis answers the sync and the exact check; on an exact hit the vector
            # is simply kept for nothing.
            early = asyncio.ensure_future(self._embed(text))
            early.add_done_callback(lambda f: f.cancelled() or f.exception())
        await self._store.sync()
        part = partition_key(req, ctx)
        ek = exact_key(req, ctx, part)
        e = self._store.local.exact(ek)
        if e is not None and (e := await self._store.verify(e)) is not None:
            self._store.local.touch(e.id)
            return self._hit(e, "exact", None)
        if text is None:
            return None
        vec = await early if early is not None else await self._embed(text)
        ctx.vector = vec
        self._recent_vecs[ek] = vec
        if len(self._recent_vecs) > 1024:
            self._recent_vecs.popitem(last=False)
        return await self._semantic(part, text, vec, ctx.controls.min_similarity)

    async def _semantic(self, part: str, text: str, vec: np.ndarray, min_sim: float | None) -> CacheHit | None:
        pol = self._policy
        assert pol is not None
        # Search at the calibrated floor even under a stricter override: the neighbours' crowding is
        # one of the scorer's inputs. The override then filters the result.
        found = self._store.local.neighbours(part, vec, pol.candidates, pol.floor)
        if not found:
            return None
        local = self._store.local
        scores = pol.scores(profile(text), [(local.profile_of(e), sim) for e, sim in found])
        best: tuple[float, CacheEntry, float] | None = None
        for (e, sim), score in zip(found, scores, strict=True):
            if score is None:
                self._n["vetoed"] += 1
                continue
            if score >= pol.threshold and (min_sim is None or sim >= min_sim) and (best is None or score > best[0]):
                best = (score, e, sim)
        if best is None:
            return None
        _, e, sim = best
        if (e := await self._store.verify(e)) is None:
            return None
        local.touch(e.id)
        return self._hit(e, "semantic", sim)

    def _hit(self, e: CacheEntry, kind: Literal["exact", "semantic"], sim: float | None) -> CacheHit:
        resp = _decode_response(e.response)
        resp.id = f"chatcmpl-cache-{uuid.uuid4().hex[:24]}"
        resp.created = int(time.time())
        return CacheHit(response=resp, kind=kind, similarity=None if sim is None else round(sim, 4),
                        prompt_tokens=e.prompt_tokens, completion_tokens=e.completion_tokens, model=e.model)

    # ---------------------------------------------------------------------------------- store

    async def store(self, req: ChatRequest, ctx: CacheContext, resp: ChatResponse) -> None:
        """Keep ``resp`` as the answer to ``req``. Never raises: safe to run as a detached task."""
        if not (self.cfg.enabled and ctx.enabled) or ctx.controls.no_store or not _cacheable(resp):
            return
        try:
            await self._store_entry(req, ctx, resp)
        except Exception:  # noqa: BLE001 - see lookup
            self._n["errors"] += 1
            log.exception("cache store failed; answer not cached")

    async def _store_entry(self, req: ChatRequest, ctx: CacheContext, resp: ChatResponse) -> None:
        await self._ensure_started()
        part = partition_key(req, ctx)
        ek = exact_key(req, ctx, part)
        text = semantic_text(req) if (self._embedder is not None and self.cfg.semantic) else None
        vec = None
        if text is not None:
            vec = self._recent_vecs.pop(ek, None)
            if vec is None:
                vec = await self._embed(text)
        ttl = self.cfg.ttl_s if ctx.controls.ttl_s is None else min(self.cfg.ttl_s, ctx.controls.ttl_s)
        now = time.time()
        entry = CacheEntry(
            id=uuid.uuid4().hex, partition=part, exact_key=ek, tenant=ctx.tenant, model=resp.model,
            text=text, vector=None if vec is None else vec.astype(np.float32).tobytes(), created=now,
            expires_at=now + ttl, response=_encode(resp), prompt_tokens=resp.usage.prompt_tokens,
            completion_tokens=resp.usage.completion_tokens,
        )
        evicted = await self._store.put(entry)
        self._n["stored"] += 1
        self._n["evicted"] += len(evicted)

    # ---------------------------------------------------------------------------------- admin

    async def purge(self, *, tenant: str | None = None, model: str | None = None) -> int:
        """Drop every entry of a tenant, of a model, of both, or (neither given) all; returns how many."""
        await self._ensure_started()
        return await self._store.purge(tenant, model)

    def stats(self) -> dict:
        lat = sorted(self._lat_ms)
        looked = self._n["hit_exact"] + self._n["hit_semantic"] + self._n["miss"]
        return {
            "backend": self._store.kind,
            "entries": len(self._store.local),
            **self._n,
            "hit_rate": round((self._n["hit_exact"] + self._n["hit_semantic"]) / looked, 4) if looked else 0.0,
            "lookup_ms_p50": round(lat[len(lat) // 2], 3) if lat else None,
            "lookup_ms_p95": round(lat[int(len(lat) * 0.95)], 3) if lat else None,
            "threshold": None if self._policy is None else round(self._policy.threshold, 4),
        }

    async def ready(self) -> bool:
        try:
            await self._ensure_started()
        except Exception:  # noqa: BLE001 - readiness reports, never raises
            return False
        return await self._store.ready()

    async def close(self) -> None:
        await self._store.close()


def build_cache(cfg: CacheConfig, embedder: Embedder | None = None) -> ResponseCache:
    """A ResponseCache for ``cfg``. Loads nothing yet: the store connects on first use."""
    local = LocalIndex(dim=(embedder or default_embedder()).dimension if cfg.semantic else 384,
                       max_entries=cfg.max_entries)
    store: Store
    if cfg.backend == "redis":
        store = RedisStore(local, cfg.redis_url, cfg.redis_prefix)
    else:
        store = MemoryStore(local, cfg.sqlite_path or None)
    policy = emb = None
    if cfg.semantic:
        emb = embedder or default_embedder()
        policy = Policy(load_calibration(cfg.calibration), cfg.target_false_hit_rate)
    return ResponseCache(cfg, store, emb, policy)
