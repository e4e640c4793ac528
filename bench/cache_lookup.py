"""Lookup latency of the semantic cache (embedding + search) with N entries in one partition.

    .venv/bin/python bench/cache_lookup.py [--entries 100000] [--lookups 500]

The worst case for search: every entry shares the lookup's partition (one tenant, one route, no
system prompt). Fill vectors are real MiniLM embeddings of QQP questions when
bench/cache_calibrate.py has left them in /tmp, topped up with jittered copies; otherwise random unit
vectors. Lookups are fresh QQP questions (or generated ones) through ResponseCache.lookup, so they
pay the real embedding, guards and scoring.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import time
from pathlib import Path

import msgspec
import numpy as np

from tierroute.cache import CacheConfig, CacheContext, build_cache
from tierroute.cache.entry import CacheEntry
from tierroute.embedding import default_embedder
from tierroute.types import ChatRequest, ChatResponse, Choice, Message, ResponseMessage, Usage

EMB = Path("/tmp/tierroute_cache_emb_qqp.npy")
QQP = Path(__file__).resolve().parents[1] / "../shared/data/cache/qqp.dev.jsonl.gz"


def fill_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    if EMB.exists():
        base = np.load(EMB)
        reps = [base]
        while sum(len(r) for r in reps) < n:
            j = base + rng.normal(0, 0.02, base.shape).astype(np.float32)
            reps.append(j / np.linalg.norm(j, axis=1, keepdims=True))
        return np.concatenate(reps)[:n]
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def queries(k: int) -> list[str]:
    if QQP.exists():
        with gzip.open(QQP, "rt") as f:
            return [json.loads(line)["q2"] for _, line in zip(range(k), f, strict=False)]
    return [f"How do I configure feature number {i} of the billing service?" for i in range(k)]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=500)
    args = ap.parse_args()
    emb = default_embedder()
    emb.embed(["warm up"])
    cache = build_cache(CacheConfig(max_entries=args.entries + 1), emb)
    ctx = CacheContext(tenant="bench", route="auto")
    probe = ChatRequest(model="auto", messages=[Message(role="user", content="x")])
    from tierroute.cache.keys import partition_key

    part = partition_key(probe, ctx)
    rng = np.random.default_rng(7)
    vecs = fill_vectors(args.entries, emb.dimension, rng)
    t = time.perf_counter()
    local = cache._store.local
    resp = msgspec.json.encode(ChatResponse(id="b", created=0, model="m", usage=Usage(), choices=[
        Choice(index=0, message=ResponseMessage(content="cached answer"), finish_reason="stop")]))
    for i in range(args.entries):
        local.add(CacheEntry(id=f"b{i}", partition=part, exact_key=f"k{i}", tenant="bench", model="m",
                             text=f"stored question number {i}", vector=vecs[i].tobytes(), created=0.0,
                             expires_at=4e9, response=resp))
    print(f"filled {args.entries} entries in {time.perf_counter() - t:.1f}s")
    qs = queries(args.lookups)
    emb_ms, look_ms = [], []
    for q in qs:
        t = time.perf_counter()
        emb.embed([q])
        emb_ms.append((time.perf_counter() - t) * 1000)
    for q in qs:
        req = ChatRequest(model="auto", messages=[Message(role="user", content=q)])
        t = time.perf_counter()
        await cache.lookup(req, ctx)
        look_ms.append((time.perf_counter() - t) * 1000)
    pv = vecs[rng.integers(0, args.entries, 500)]
    search_ms = []
    for v in pv:
        t = time.perf_counter()
        local.neighbours(part, v, 8, 0.7)
        search_ms.append((time.perf_counter() - t) * 1000)

    def q(xs: list[float], p: float) -> float:
        return round(sorted(xs)[int(len(xs) * p)], 3)

    stats = cache.stats()
    print(json.dumps({
        "hits": stats["hit_exact"] + stats["hit_semantic"], "errors": stats["errors"],
        "entries": args.entries, "lookups": len(qs),
        "embed_ms_p50": round(statistics.median(emb_ms), 3), "embed_ms_p95": q(emb_ms, 0.95),
        "search_ms_p50": round(statistics.median(search_ms), 3), "search_ms_p95": q(search_ms, 0.95),
        "lookup_ms_p50": round(statistics.median(look_ms), 3), "lookup_ms_p95": q(look_ms, 0.95),
        "fill_vectors": "qqp-embeddings" if EMB.exists() else "random",
    }))


if __name__ == "__main__":
    asyncio.run(main())
