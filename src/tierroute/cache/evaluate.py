"""The evaluation protocol of ../shared/data/README.md, run through the real cache code.

Fill a fresh in-process cache with every q1 (each with its own answer), then look up every q2. A hit
is correct when it returns the answer stored for this pair's q1 and the pair is a duplicate; any
other hit is a false hit. Pairs whose q1 text is identical to another pair's q1 share one cache
entry (the cache cannot store two answers for one request): the answer stored for that text is the
answer to the pair's own q1 and counts as its own.

QQP reuses questions across pairs: about 4% of q2 texts are, word for word, some *other* pair's q1.
The exact layer answers those with that pair's answer, which the protocol counts as a false hit
(``exact_repeat_false_hits`` reports how many, so the semantic layer's own errors can be told
apart). ``count_exact_repeats_correct=True`` is a deliberate deviation from the protocol, off by
default: it counts such a hit as correct, since it answers the very text asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import numpy as np

from tierroute.embedding import Embedder, default_embedder

from ..types import ChatRequest, ChatResponse, Choice, Message, ResponseMessage, Usage
from .config import CacheConfig
from .controls import CacheContext
from .keys import normalise_text
from .pairs import Pair
from .response_cache import build_cache


class _Prefilled:
    """An embedder that serves the fill's vectors from a batch computed up front (filling is not
    what is measured); anything else goes to the real embedder, so lookups pay the real cost."""

    def __init__(self, inner: Embedder, known: dict[str, np.ndarray]) -> None:
        self.name, self.dimension = inner.name, inner.dimension
        self._inner, self._known = inner, known

    def embed(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1 and texts[0] in self._known:
            return self._known[texts[0]][None, :]
        return self._inner.embed(texts)


def _request(text: str) -> ChatRequest:
    return ChatRequest(model="eval", messages=[Message(role="user", content=text)])


def _answer(i: int) -> ChatResponse:
    return ChatResponse(id=f"eval-{i}", created=0, model="eval",
                        choices=[Choice(index=0, message=ResponseMessage(content=str(i)), finish_reason="stop")],
                        usage=Usage(10, 10, 20))


async def evaluate_pairs(pairs: list[Pair], cfg: CacheConfig, embedder: Embedder | None = None,
                         progress: Callable[[str], None] | None = None,
                         count_exact_repeats_correct: bool = False) -> dict:
    emb = embedder or default_embedder()
    cfg = msgspec.structs.replace(cfg, enabled=True, backend="memory", sqlite_path="",
                                  max_entries=max(cfg.max_entries, len(pairs) + 1))
    q1 = [normalise_text(p.q1) for p in pairs]
    known: dict[str, np.ndarray] = {}
    if cfg.semantic:
        order = sorted(set(q1), key=len)
        for i in range(0, len(order), 64):
            batch = order[i : i + 64]
            for t, v in zip(batch, emb.embed(batch), strict=True):
                known[t] = v
    cache = build_cache(cfg, _Prefilled(emb, known) if cfg.semantic else emb)
    ctx = CacheContext(tenant="eval", route="eval")
    for i, text in enumerate(q1):
        await cache.store(_request(text), ctx, _answer(i))
    if progress:
        progress(f"filled {len(pairs)} entries")
    hits = correct = false_hits = repeat_false = 0
    lat: list[float] = []
    for j, p in enumerate(pairs):
        t0 = time.perf_counter()
        hit = await cache.lookup(_request(p.q2), ctx)
        lat.append((time.perf_counter() - t0) * 1000)
        if hit is None:
            continue
        hits += 1
        got = int(hit.response.choices[0].message.content or -1)
        repeat = q1[got] == normalise_text(p.q2) and q1[got] != q1[j]
        if (p.duplicate and q1[got] == q1[j]) or (repeat and count_exact_repeats_correct):
            correct += 1
        else:
            false_hits += 1
            repeat_false += repeat
    await cache.close()
    n = len(pairs)
    ndup = sum(p.duplicate for p in pairs)
    lat.sort()
    return {
        "pairs": n, "duplicates": ndup, "hits": hits, "correct_hits": correct, "false_hits": false_hits,
        "exact_repeat_false_hits": repeat_false,
        "hit_rate": hits / n if n else 0.0,
        "precision": correct / hits if hits else 1.0,
        "recall": correct / ndup if ndup else 0.0,
        "false_hit_rate": false_hits / (n - ndup) if n > ndup else None,  # no should-miss lookups
        "lookup_ms_p50": lat[len(lat) // 2] if lat else None,
        "lookup_ms_p95": lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else None,
    }
