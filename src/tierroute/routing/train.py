"""Fit a ``TrainedRouter`` on labelled routing data, and score one on held-out data.

Hyper-parameters (regularisation of both heads, the inputs of the difficulty proxy, the blend of
quality gain and difficulty proxy, the size of the neighbour vote, the strength of the text head,
and the weights of the neighbour, label and text votes) are chosen by repeated k-fold
cross-validation on the training rows only, maximising APGR averaged over the data's sources (so a
big source does not drown a small one). The label and text votes are scored out of fold, like the
neighbour vote is leave-one-out, so their weights are chosen on what unseen prompts will see.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold

from tierroute.embedding import Embedder
from tierroute.routing.dataset import RoutingData
from tierroute.routing.evaluate import evaluate, pick_pair
from tierroute.routing.features import NAMES, TEXT_BITS, gram_counts, prompt_features
from tierroute.routing.learned import Expert, TrainedRouter, knn_mean, label_gain

C_GRID = (0.001, 0.003)
# The difficulty proxy (log cost of the strong answer, i.e. its length) from every input, or from the
# hand features alone: on word problems the count of quantities and steps predicts it better than a
# 384-d embedding fitted on a few hundred rows.
COST_GRID = ((300.0, "all"), (10.0, "hand"))
BLEND_GRID = (0.0, 0.25, 0.5, 0.7)
MIN_EXPERT_ROWS = 150  # a source with fewer rows is learned by the catch-all expert only
GATE_C = 0.1
CV_REPEATS = 3
KNN_KS = (20, 100)  # neighbours in the vote: few suit a small workload (word problems), more a big one
KNN_WEIGHTS = (0.0, 0.3, 0.5, 0.7, 0.85)
LABEL_WEIGHTS = (0.0, 0.3, 0.5, 0.7)
LABEL_C = 10.0  # inverse L2 strength of the label softmax over the unit-length embedding
LABEL_PRIOR = 5.0  # pseudo-rows pulling a label's mean gain towards the overall mean
MIN_LABEL_ROWS = 5
# The word n-gram head: ridge strengths tried (the one with the best cross-validated APGR alone is
# kept), and its weights in the blend.
TEXT_ALPHAS = (3.0, 10.0, 30.0)
TEXT_WEIGHTS = (0.0, 0.2, 0.35, 0.5, 0.7)


def embed_texts(embedder: Embedder, texts: list[str], batch: int = 64,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Embeddings of ``texts``; with ``TIERROUTE_EMBED_CACHE=DIR`` they are kept in DIR, keyed by the
    embedder and the exact texts, so repeated train/eval runs on the same files embed once."""
    cache_dir = os.environ.get("TIERROUTE_EMBED_CACHE")
    path = None
    if cache_dir:
        h = hashlib.sha256(f"{embedder.name}/{getattr(embedder, '_max_tokens', '')}".encode())
        for t in texts:
            h.update(t.encode("utf-8", "surrogatepass") + b"\x00")
        path = Path(cache_dir) / f"emb-{h.hexdigest()[:24]}.npy"
        if path.exists():
            return np.load(path, allow_pickle=False)
    vecs = _embed_batches(embedder, texts, batch, progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, vecs)
        os.replace(tmp, path)
    return vecs


def _embed_batches(embedder: Embedder, texts: list[str], batch: int,
                   progress: Callable[[int, int], None] | None) -> np.ndarray:
    out = []
    for i in range(0, len(texts), batch):
        out.append(embedder.embed(texts[i:i + batch]))
        if progress:
            progress(min(i + batch, len(texts)), len(texts))
    return np.concatenate(out) if out else np.zeros((0, embedder.dimension), dtype=np.float32)


def raw_inputs(vecs: np.ndarray, texts: list[str]) -> np.ndarray:
    hand = np.array([prompt_features(t) for t in texts], dtype=np.float32)
    return np.hstack([vecs.astype(np.float32), hand])


def text_counts(texts: list[str]) -> csr_matrix:
    """(rows, 2**TEXT_BITS) sparse n-gram counts, the same hashing as inference (``gram_counts``)."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[int] = []
    for i, t in enumerate(texts):
        c = gram_counts(t)
        rows += [i] * len(c)
        cols += list(c)
        vals += list(c.values())
    return csr_matrix((np.array(vals, dtype=np.float64), (rows, cols)), shape=(len(texts), 1 << TEXT_BITS))


def _idf(counts: csr_matrix) -> np.ndarray:
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return np.log((1 + counts.shape[0]) / (1 + df)) + 1.0


def _tfidf(counts: csr_matrix, idf: np.ndarray) -> csr_matrix:
    x = counts.copy()
    x.data = (1.0 + np.log(x.data)) * idf[x.indices]
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norm[norm == 0] = 1.0
    return csr_matrix(x.multiply(1.0 / norm[:, None]))


def fit_text_head(counts: csr_matrix, gain: np.ndarray, alpha: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Ridge regression of the strong-over-weak gain on the rows' TF-IDF: the seen buckets (sorted),
    their idf and coefficients, the intercept, and the idf of a bucket never seen."""
    idf = _idf(counts)
    r = Ridge(alpha=alpha).fit(_tfidf(counts, idf), gain)
    seen = np.unique(counts.indices)
    return seen.astype(np.int32), idf[seen].astype(np.float32), r.coef_[seen].astype(np.float32), \
        float(r.intercept_), float(np.log(1 + counts.shape[0]) + 1.0)


def _text_predict(counts: csr_matrix, gain: np.ndarray, tr: np.ndarray, te: np.ndarray,
                  alphas: tuple[float, ...]) -> dict[float, np.ndarray]:
    idf = _idf(counts[tr])  # from the training fold only, as a new prompt will see it
    xtr, xte = _tfidf(counts[tr], idf), _tfidf(counts[te], idf)
    return {a: Ridge(alpha=a).fit(xtr, gain[tr]).predict(xte) for a in alphas}


def _fit_quality(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    ok = ~np.isnan(y)
    labels = y[ok] >= 0.5
    if labels.all() or not labels.any():  # one class only: a constant
        p = 0.999 if labels.all() else 0.001
        return np.zeros(x.shape[1]), float(np.log(p / (1 - p)))
    lr = LogisticRegression(C=c, max_iter=3000).fit(x[ok], labels)
    return lr.coef_[0], float(lr.intercept_[0])


def _fit_cost(x: np.ndarray, cost: np.ndarray, spec: tuple[float, str]) -> tuple[np.ndarray, float]:
    alpha, inputs = spec
    cols = np.arange(x.shape[1]) if inputs == "all" else np.arange(x.shape[1] - len(NAMES), x.shape[1])
    ok = ~np.isnan(cost)
    r = Ridge(alpha=alpha).fit(x[ok][:, cols], np.log(np.maximum(cost[ok], 1e-9)))
    w = np.zeros(x.shape[1])
    w[cols] = r.coef_
    return w, float(r.intercept_)


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


def loo_knn(vecs: np.ndarray, values: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Leave-one-out nearest-neighbour means: each row's vote from the others (an honest estimate)."""
    v = vecs.astype(np.float32)
    out = np.zeros(len(v))
    for i in range(0, len(v), chunk):
        sim = v[i:i + chunk] @ v.T
        sim[np.arange(sim.shape[0]), np.arange(i, i + sim.shape[0])] = -np.inf
        out[i:i + chunk] = knn_mean(sim, values, k)
    return out


def fit_label_head(vecs: np.ndarray, labels: list[str], gain: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A softmax over the fine labels (labels with too few rows pooled) and each label's shrunk mean
    gain; None when the rows do not name at least two usable labels."""
    lab = np.array(labels)
    names, counts = np.unique(lab, return_counts=True)
    keep = set(names[counts >= MIN_LABEL_ROWS])
    lab = np.array([x if x in keep else "\x00other" for x in lab])
    classes = sorted(set(lab))
    if len(classes) < 2:
        return None
    lr = LogisticRegression(C=LABEL_C, max_iter=300).fit(vecs, lab)
    mu = float(gain.mean())
    gains = np.array([(gain[lab == c].sum() + LABEL_PRIOR * mu) / ((lab == c).sum() + LABEL_PRIOR)
                      for c in lr.classes_])
    w, b = lr.coef_, lr.intercept_
    if len(lr.classes_) == 2:  # scikit-learn gives one row for two classes
        w, b = np.vstack([-w[0] / 2, w[0] / 2]), np.array([-b[0] / 2, b[0] / 2])
    return w.astype(np.float32), b.astype(np.float32), gains


def oof_label_gain(vecs: np.ndarray, labels: list[str], gain: np.ndarray, folds: int, seed: int) -> np.ndarray | None:
    """Out-of-fold label-head votes (an honest estimate for choosing its weight and calibrating)."""
    if len(set(labels)) < 2:
        return None
    out = np.zeros(len(vecs))
    for tr, te in KFold(folds, shuffle=True, random_state=seed).split(vecs):
        head = fit_label_head(vecs[tr], [labels[i] for i in tr], gain[tr])
        if head is None:
            return None
        out[te] = label_gain(vecs[te], *head)
    return out


def _blends(lin: np.ndarray, knn: dict[int, np.ndarray], lg_z: np.ndarray, tx_z: np.ndarray,
            label_weights: tuple[float, ...], text_weights: tuple[float, ...]
            ) -> Iterator[tuple[tuple[int, float, float, float], np.ndarray]]:
    """Every blend of the (standardised) linear score with the neighbour, label and text votes whose
    weights sum to at most 1: ((neighbours, knn weight, label weight, text weight), need)."""
    kz = {k: (v - v.mean()) / (v.std() or 1.0) for k, v in knn.items()}
    for k in kz:
        for wk in KNN_WEIGHTS:
            if wk == 0 and k != min(kz):
                continue  # without the vote its size does not matter
            for wl in label_weights:
                for wt in text_weights:
                    if wk + wl + wt <= 1 + 1e-9:
                        yield (k, wk, wl, wt), (1 - wk - wl - wt) * lin + wk * kz[k] + wl * lg_z + wt * tx_z


def fit_expert(name: str, x: np.ndarray, vecs: np.ndarray, data: RoutingData, si: int, wi: int, *, folds: int,
               seed: int, log: Callable[[str], None] | None = None, counts: csr_matrix | None = None) -> Expert:
    """One expert on rows ``x`` (already standardised), their embeddings ``vecs`` and n-gram
    ``counts``, hyper-parameters by k-fold cross-validation (leave-one-out for the neighbour vote)."""
    pair = [si, wi]
    rows = data.complete(pair)
    n = len(data)
    gain_all = np.nan_to_num(data.scores[:, si] - data.scores[:, wi])
    knn = {k: loo_knn(vecs, gain_all, k) if n > 1 else np.zeros(n) for k in sorted({min(k, max(1, n // 4))
                                                                                    for k in KNN_KS})}
    folds = max(2, min(folds, n // 4))
    lg = oof_label_gain(vecs, data.labels, gain_all, folds, seed)
    label_norm = _norm(lg) if lg is not None else (0.0, 1.0)
    lg_z = (lg - label_norm[0]) / label_norm[1] if lg is not None else np.zeros(n)
    label_weights = LABEL_WEIGHTS if lg is not None else (0.0,)
    # Repeated k-fold: small workloads give noisy APGR, and a noisy pick overfits the choice itself.
    totals: dict[tuple, float] = {}
    repeats = CV_REPEATS
    alphas = TEXT_ALPHAS if counts is not None else ()
    folds_oof = []
    for rep in range(repeats):
        gains = {c: np.zeros(n) for c in C_GRID}
        costp = {a: np.zeros(n) for a in COST_GRID}
        text = {a: np.zeros(n) for a in alphas}
        for tr, te in KFold(folds, shuffle=True, random_state=seed + rep).split(x):
            for c in C_GRID:
                ws, bs = _fit_quality(x[tr], data.scores[tr, si], c)
                ww, bw = _fit_quality(x[tr], data.scores[tr, wi], c)
                gains[c][te] = 1 / (1 + np.exp(-(x[te] @ ws + bs))) - 1 / (1 + np.exp(-(x[te] @ ww + bw)))
            for a in COST_GRID:
                w, b = _fit_cost(x[tr], data.costs[tr, si], a)
                costp[a][te] = x[te] @ w + b
            if counts is not None:
                for a, p in _text_predict(counts, gain_all, tr, te, alphas).items():
                    text[a][te] = p
        folds_oof.append((gains, costp, text))
    # The text head's strength by its own cross-validated APGR; then its weight in the blend below.
    alpha_t = max(alphas, key=lambda a: sum(_by_source_apgr(t[a], data, pair, rows) for _, _, t in folds_oof)) \
        if alphas else 0.0
    text_weights = TEXT_WEIGHTS if alphas else (0.0,)
    for gains, costp, text in folds_oof:
        tx = text[alpha_t] if alphas else np.zeros(n)
        tx_z = (tx - tx.mean()) / (tx.std() or 1.0)
        for c in C_GRID:
            g = (gains[c] - gains[c].mean()) / (gains[c].std() or 1.0)
            for a in COST_GRID:
                k = (costp[a] - costp[a].mean()) / (costp[a].std() or 1.0)
                for blend in BLEND_GRID:
                    lin = (1 - blend) * g + blend * k
                    lin = (lin - lin.mean()) / (lin.std() or 1.0)
                    for key, need in _blends(lin, knn, lg_z, tx_z, label_weights, text_weights):
                        key = (c, a, blend, *key)
                        totals[key] = totals.get(key, 0.0) + _by_source_apgr(need, data, pair, rows) / repeats
    (c, a, blend, knn_k, wk, wl, wt), cv_apgr = max(totals.items(), key=lambda kv: kv[1])
    if log:
        log(f"{name}: cross-validated APGR {cv_apgr:.4f} with C={c} cost={a} blend={blend} knn={wk} (k={knn_k}) "
            f"label={wl} text={wt} (alpha {alpha_t})")
    knn_norm = _norm(knn[knn_k])
    kn_z = (knn[knn_k] - knn_norm[0]) / knn_norm[1]
    head = fit_label_head(vecs, data.labels, gain_all) if wl > 0 else None
    text_head = fit_text_head(counts, gain_all, alpha_t) if wt > 0 and counts is not None else None
    tx_oof = folds_oof[0][2][alpha_t] if wt > 0 else np.zeros(n)  # what unseen prompts will see
    text_norm = _norm(tx_oof)
    qw = np.zeros((len(data.models), x.shape[1]))
    qb = np.zeros(len(data.models))
    for j in range(len(data.models)):
        qw[j], qb[j] = _fit_quality(x, data.scores[:, j], c)
    cw, cb = _fit_cost(x, data.costs[:, si], a)
    q = 1 / (1 + np.exp(-(x @ qw.T + qb)))
    ex = Expert(name=name, quality_w=qw, quality_b=qb, cost_w=cw, cost_b=cb, gain_norm=_norm(q[:, si] - q[:, wi]),
                cost_norm=_norm(x @ cw + cb), blend=blend, train_needs=np.zeros(0),
                info={"rows": n, "C": c, "alpha": a[0], "cost_inputs": a[1], "blend": blend, "knn_weight": wk,
                      "label_weight": wl, "text_weight": wt, "text_alpha": alpha_t, "cv_apgr": round(cv_apgr, 4),
                      "folds": folds},
                knn_vecs=vecs if wk > 0 else None, knn_gain=gain_all if wk > 0 else None, knn_k=knn_k,
                knn_weight=wk, knn_norm=knn_norm, label_w=head[0] if head else None,
                label_b=head[1] if head else None, label_gains=head[2] if head else None,
                label_weight=wl if head else 0.0, label_norm=label_norm,
                text_idx=text_head[0] if text_head else None, text_idf=text_head[1] if text_head else None,
                text_coef=text_head[2] if text_head else None, text_b=text_head[3] if text_head else 0.0,
                text_unseen_idf=text_head[4] if text_head else 1.0, text_weight=wt if text_head else 0.0,
                text_norm=text_norm)
    lin = ex.linear(x.astype(np.float32), si, wi)
    ex.lin_norm = _norm(lin)
    # Calibrate quantiles on the out-of-sample votes, as new prompts will see them (not on self-matches).
    wl, wt = ex.label_weight, ex.text_weight
    tx_z = (tx_oof - text_norm[0]) / text_norm[1]
    ex.train_needs = np.sort((1 - wk - wl - wt) * (lin - ex.lin_norm[0]) / ex.lin_norm[1] + wk * kn_z + wl * lg_z
                             + wt * tx_z)
    return ex


def train_router(data: RoutingData, vecs: np.ndarray, *, embedder_name: str, folds: int = 5, seed: int = 0,
                 min_expert_rows: int = MIN_EXPERT_ROWS, log: Callable[[str], None] | None = None) -> TrainedRouter:
    x_raw = raw_inputs(vecs, data.texts)
    mean = x_raw.mean(axis=0)
    scale = x_raw.std(axis=0)
    scale[scale < 1e-6] = 1.0
    x = ((x_raw - mean) / scale).astype(np.float32)
    si, wi = pick_pair(data.scores, data.costs)
    grams = text_counts(data.texts)
    srcs = np.array(data.sources)
    counts = {s: int((srcs == s).sum()) for s in sorted(set(data.sources))}
    big = [s for s, k in counts.items() if k >= min_expert_rows]
    groups = big + (["other"] if len(big) < len(counts) else [])
    if len(groups) <= 1:
        groups = ["all"]
        label = np.zeros(len(data), dtype=int)
    else:
        label = np.array([groups.index(s) if s in big else len(groups) - 1 for s in data.sources])
    experts = []
    for j, g in enumerate(groups):
        # the catch-all expert learns from every row: it must cope with prompts of any kind
        idx = np.arange(len(data)) if g in ("all", "other") else np.flatnonzero(label == j)
        experts.append(fit_expert(g, x[idx], vecs[idx], data.subset(idx), si, wi, folds=folds, seed=seed,
                                  log=log, counts=grams[idx]))
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


def eval_router(router: TrainedRouter, data: RoutingData, vecs: np.ndarray) -> dict[str, object]:
    """The README's metrics for the router's strong/weak pair on ``data`` (rows that have both)."""
    cols = [data.models.index(router.strong), data.models.index(router.weak)] \
        if router.strong in data.models and router.weak in data.models else None
    if cols is None:
        raise ValueError(f"the data has no rows with both {router.strong} and {router.weak} (the router's pair)")
    rows = data.complete(cols)
    if len(rows) == 0:
        raise ValueError(f"no row has both {router.strong} and {router.weak}")
    texts = [data.texts[i] for i in rows]
    need = router.need(vecs[rows], texts)
    out = evaluate(need, data.scores[rows][:, cols], data.costs[rows][:, cols])
    if len(router.models) > 2 and all(m in data.models for m in router.models):
        # More than two models: operating points also come from picking, per prompt, the model with
        # the best predicted quality net of lambda x its mean cost, over a sweep of lambda.
        allc = [data.models.index(m) for m in router.models]
        full = data.complete(allc)
        if len(full):
            z = router.inputs(vecs[full], [data.texts[i] for i in full])
            q_hat = router.quality_from_inputs(z)
            s, c = data.scores[full][:, allc], data.costs[full][:, allc]
            best = int(np.argmax(s.mean(axis=0)))
            target, cost_best = 0.95 * s[:, best].mean(), c[:, best].sum()
            unit = router.mean_cost / max(float(np.max(router.mean_cost)), 1e-12)
            frac = float(out["cost_fraction_at_95"])  # type: ignore[arg-type]
            for lam in np.concatenate([[0.0], np.geomspace(1e-3, 10, 60)]):
                pick = np.argmax(q_hat - lam * unit, axis=1)
                rows_i = np.arange(len(full))
                if s[rows_i, pick].mean() >= target - 1e-12 and cost_best > 0:
                    frac = min(frac, float(c[rows_i, pick].sum() / cost_best))
            out["cost_fraction_at_95"] = round(frac, 4)
    return out
