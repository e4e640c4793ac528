"""Decision latency of the trained router and of the plan for `auto` and for a named model.

    .venv/bin/python bench/router_latency.py --router ROUTER [--data FILE] [--n 300]

Prints medians and p95 in milliseconds. The trained router's decision is one embedding of the
prompt (the shared MiniLM embedder, one thread) plus the linear heads; measured one request at a
time, as the gateway makes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import numpy as np

from tierroute.config.loader import load_settings
from tierroute.embedding import default_embedder
from tierroute.routing import Router, RoutingConfig, load_rules
from tierroute.routing.dataset import load_data
from tierroute.routing.learned import TrainedRouter
from tierroute.types import ChatRequest, Message, RouteHints

ROOT = Path(__file__).resolve().parents[1]


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(xs, p))


def report(name: str, xs: list[float]) -> dict:
    d = {"name": name, "median_ms": round(statistics.median(xs), 4), "p95_ms": round(pct(xs, 95), 4), "n": len(xs)}
    print(json.dumps(d))
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--router", required=True)
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/routing/mmlu.dev.jsonl.gz"))
    ap.add_argument("--n", type=int, default=300)
    a = ap.parse_args()
    texts = load_data([a.data]).texts
    rng = np.random.default_rng(0)
    texts = [texts[i] for i in rng.permutation(len(texts))[: a.n]]
    router = TrainedRouter.load(a.router)
    emb = default_embedder()
    emb.embed(["warm up"])
    dec = []
    for t in texts:
        s = time.perf_counter()
        router.need_quantile(emb.embed([t])[0], t)
        dec.append((time.perf_counter() - s) * 1000)
    report("trained router decision (embed + heads)", dec)
    vecs = emb.embed(texts)
    heads = []
    for t, v in zip(texts, vecs, strict=True):
        s = time.perf_counter()
        router.need_quantile(v, t)
        heads.append((time.perf_counter() - s) * 1000)
    report("trained router decision given the cache's vector (heads only)", heads)

    settings = load_settings(str(ROOT / "config/tierroute.yaml"), environ={"TIERROUTE_SIMULATOR": "on"})
    rules = load_rules(settings.routing_rules_path, settings.catalog)
    r = Router(settings, rules, RoutingConfig(router=str(Path(a.router).resolve())))
    reqs = [ChatRequest(model="auto", messages=[Message(role="user", content=t)]) for t in texts]

    async def auto() -> list[float]:
        out = []
        for q in reqs:
            s = time.perf_counter()
            await r.plan_async(q, RouteHints())
            out.append((time.perf_counter() - s) * 1000)
        return out

    report("plan_async(auto) with trained router", asyncio.run(auto()))

    async def auto_shared() -> list[float]:
        out = []
        for q, v in zip(reqs, vecs, strict=True):
            s = time.perf_counter()
            await r.plan_async(q, RouteHints(), vector=v)
            out.append((time.perf_counter() - s) * 1000)
        return out

    report("plan_async(auto, vector=cache's) with trained router", asyncio.run(auto_shared()))
    fast = []
    for q in reqs:
        s = time.perf_counter()
        r.plan(q, RouteHints())
        fast.append((time.perf_counter() - s) * 1000)
    report("plan(auto), fast classifier only", fast)
    named = ChatRequest(model="gpt-4o", messages=[Message(role="user", content="Say hello in French.")])
    xs = []
    for _ in range(20000):
        s = time.perf_counter()
        r.plan(named, RouteHints())
        xs.append((time.perf_counter() - s) * 1000)
    report("plan(named model)", xs)


if __name__ == "__main__":
    main()
