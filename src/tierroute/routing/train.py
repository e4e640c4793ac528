"""Fit a ``TrainedRouter`` on labelled routing data, and score one on held-out data.

Hyper-parameters (regularisation of both heads, the blend of quality gain and difficulty proxy)
are chosen by k-fold cross-validation on the training rows, maximising APGR averaged over the
data's sources (so a big source does not drown a small one).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold

from tierroute.embedding import Embedder
from tierroute.routing.dataset import RoutingData
from tierroute.routing.evaluate import evaluate, pick_pair
from tierroute.routing.features import prompt_features
from tierroute.routing.learned import Expert, TrainedRouter

C_GRID = (0.001, 0.003)
ALPHA_GRID = (300.0,)
BLEND_GRID = (0.0, 0.25, 0.5)
MIN_EXPERT_ROWS = 150  # a source with fewer rows is learned by the catch-all expert only
GATE_C = 0.1
CV_REPEATS = 3


def embed_texts(embedder: Embedder, texts: list[str], batch: int = 64,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    out = []
    for i in range(0, len(texts), batch):
        out.append(embedder.embed(texts[i:i + batch]))
        if progress:
            progress(min(i + batch, len(texts)), len(texts))
    return np.concatenate(out) if out else np.zeros((0, embedder.dimension), dtype=np.float32)


def raw_inputs(vecs: np.ndarray, texts: list[str]) -> np.ndarray:
    hand = np.array([prompt_features(t) for t in texts], dtype=np.float32)
    return np.hstack([vecs.astype(np.float32), hand])


def _fit_quality(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    ok = ~np.isnan(y)
    labels = y[ok] >= 0.5
    if labels.all() or not labels.any():  # one class only: a constant
        p = 0.999 if labels.all() else 0.001
        return np.zeros(x.shape[1]), float(np.log(p / (1 - p)))
    lr = LogisticRegression(C=c, max_iter=3000).fit(x[ok], labels)
    return lr.coef_[0], float(lr.intercept_[0])


def _fit_cost(x: np.ndarray, cost: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    ok = ~np.isnan(cost)
    r = Ridge(alpha=alpha).fit(x[ok], np.log(np.maximum(cost[ok], 1e-9)))
    return r.coef_, float(r.intercept_)


def _norm(v: np.ndarray) -> tuple[float, float]:
    return float(v.mean()), float(v.std() or 1.0)


def _by_source_apgr(need: np.ndarray, data: RoutingData, pair: list[int], rows: np.ndarray) -> float:
    vals = []
    srcs = np.array(data.sources)
    for s in sorted(set(srcs[rows])):
        r = rows[srcs[rows] == s]
        if len(r) >= 20:
            vals.append(evaluate(need[r], data.scores[r][:, pair], data.costs[r][:, pair], random_trials=0)["apgr"])
    return float(np.mean(vals)) if vals else 0.5


def fit_expert(name: str, x: np.ndarray, data: RoutingData, si: int, wi: int, *, folds: int, seed: int,
               log: Callable[[str], None] | None = None) -> Expert:
    """One expert on rows ``x`` (already standardised), hyper-parameters by k-fold cross-validation."""
    pair = [si, wi]
    rows = data.complete(pair)
    n = len(data)
    folds = max(2, min(folds, n // 4))
    # Repeated k-fold: small workloads give noisy APGR, and a noisy pick overfits the choice itself.
    totals: dict[tuple[float, float, float], float] = {}
    repeats = CV_REPEATS if n < 2000 else 1
    for rep in range(repeats):
        gains = {c: np.zeros(n) for c in C_GRID}
        costp = {a: np.zeros(n) for a in ALPHA_GRID}
        for tr, te in KFold(folds, shuffle=True, random_state=seed + rep).split(x):
            for c in C_GRID:
                ws, bs = _fit_quality(x[tr], data.scores[tr, si], c)
                ww, bw = _fit_quality(x[tr], data.scores[tr, wi], c)
                gains[c][te] = 1 / (1 + np.exp(-(x[te] @ ws + bs))) - 1 / (1 + np.exp(-(x[te] @ ww + bw)))
            for a in ALPHA_GRID:
                w, b = _fit_cost(x[tr], data.costs[tr, si], a)
                costp[a][te] = x[te] @ w + b
        for c in C_GRID:
            g = (gains[c] - gains[c].mean()) / (gains[c].std() or 1.0)
            for a in ALPHA_GRID:
                k = (costp[a] - costp[a].mean()) / (costp[a].std() or 1.0)
                for blend in BLEND_GRID:
                    score = _by_source_apgr((1 - blend) * g + blend * k, data, pair, rows)
                    totals[(c, a, blend)] = totals.get((c, a, blend), 0.0) + score / repeats
    (c, a, blend), cv_apgr = max(totals.items(), key=lambda kv: kv[1])
    if log:
        log(f"{name}: cross-validated APGR {cv_apgr:.4f} with C={c} alpha={a} blend={blend}")
    qw = np.zeros((len(data.models), x.shape[1]))
    qb = np.zeros(len(data.models))
    for j in range(len(data.models)):
        qw[j], qb[j] = _fit_quality(x, data.scores[:, j], c)
    cw, cb = _fit_cost(x, data.costs[:, si], a)
    q = 1 / (1 + np.exp(-(x @ qw.T + qb)))
    ex = Expert(name=name, quality_w=qw, quality_b=qb, cost_w=cw, cost_b=cb, gain_norm=_norm(q[:, si] - q[:, wi]),
                cost_norm=_norm(x @ cw + cb), blend=blend, train_needs=np.zeros(0),
                info={"rows": n, "C": c, "alpha": a, "blend": blend, "cv_apgr": round(cv_apgr, 4), "folds": folds})
    ex.train_needs = np.sort(ex.need(x.astype(np.float32), si, wi))
    return ex


def train_router(data: RoutingData, vecs: np.ndarray, *, embedder_name: str, folds: int = 5, seed: int = 0,
                 min_expert_rows: int = MIN_EXPERT_ROWS, log: Callable[[str], None] | None = None) -> TrainedRouter:
    x_raw = raw_inputs(vecs, data.texts)
    mean = x_raw.mean(axis=0)
    scale = x_raw.std(axis=0)
    scale[scale < 1e-6] = 1.0
    x = ((x_raw - mean) / scale).astype(np.float32)
    si, wi = pick_pair(data.scores, data.costs)
    srcs = np.array(data.sources)
    counts = {s: int((srcs == s).sum()) for s in sorted(set(data.sources))}
    big = [s for s, k in counts.items() if k >= min_expert_rows]
    groups = big + (["other"] if len(big) < len(counts) else [])
    if len(groups) <= 1:
        groups = ["all"]
    label = np.array([groups.index(s) if s in big else len(groups) - 1 for s in data.sources])
    experts = []
    for j, g in enumerate(groups):
        # the catch-all expert learns from every row: it must cope with prompts of any kind
        idx = np.arange(len(data)) if g in ("all", "other") else np.flatnonzero(label == j)
        experts.append(fit_expert(g, x[idx], data.subset(idx), si, wi, folds=folds, seed=seed, log=log))
    gate_w = np.zeros((len(groups), x.shape[1]), dtype=np.float32)
    gate_b = np.zeros(len(groups), dtype=np.float32)
    if len(groups) > 1:
        gate = LogisticRegression(C=GATE_C, max_iter=3000).fit(x, label)
        gate_w, gate_b = gate.coef_.astype(np.float32), gate.intercept_.astype(np.float32)
        if len(groups) == 2:  # scikit-learn gives one row for two classes
            gate_w = np.vstack([-gate_w[0] / 2, gate_w[0] / 2])
            gate_b = np.array([-gate_b[0] / 2, gate_b[0] / 2], dtype=np.float32)
    return TrainedRouter(
        models=data.models, strong=data.models[si], weak=data.models[wi], mean=mean, scale=scale,
        gate_w=gate_w, gate_b=gate_b, experts=experts, mean_cost=np.nanmean(data.costs, axis=0),
        embedder_name=embedder_name,
        info={"rows": len(data), "experts": {e.name: e.info for e in experts}})


def router_scores(router: TrainedRouter, vecs: np.ndarray, texts: list[str]) -> np.ndarray:
    return router.need(vecs, texts)


def eval_router(router: TrainedRouter, data: RoutingData, vecs: np.ndarray) -> dict[str, object]:
    """The README's metrics for the router's strong/weak pair on ``data`` (rows that have both)."""
    cols = [data.models.index(router.strong), data.models.index(router.weak)] \
        if router.strong in data.models and router.weak in data.models else None
    if cols is None:
        raise ValueError(f"the data has no rows with both {router.strong} and {router.weak} (the router's pair)")
    rows = data.complete(cols)
    if len(rows) == 0:
        raise ValueError(f"no row has both {router.strong} and {router.weak}")
    need = router.need(vecs[rows], [data.texts[i] for i in rows])
    return evaluate(need, data.scores[rows][:, cols], data.costs[rows][:, cols])
