"""Fit the semantic cache's scoring model and its false-hit-rate table from the development pairs.

    .venv/bin/python bench/cache_calibrate.py [--data ../shared/data/cache] [--out src/tierroute/cache/calibration.json]

Splits every pair file in half by id ("tune" / "rest"). On the tune half it runs the cache protocol
(fill every q1, look up every q2) with the real index, guards and feature code, fits the scorer (a
one-hidden-layer network) over each (q2, candidate) pair, and measures false-hit rate and recall
per threshold on QQP's tune half: the operating points the cache chooses its threshold from. The rest
half is reported, never fitted. Writes only fitted numbers, never the data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import msgspec
import numpy as np
from sklearn.neural_network import MLPClassifier

from tierroute.cache.guards import profile
from tierroute.cache.index import VectorIndex
from tierroute.cache.keys import normalise_text
from tierroute.cache.pairs import Pair, read_pairs, split_of
from tierroute.cache.policy import FEATURE_NAMES, TARGET_MARGIN, Calibration, Policy, candidate_features
from tierroute.embedding import default_embedder

FLOOR = 0.70
K = 8
PARAPHRASE_WEIGHT = 8


def embed_all(texts: list[str], cache: Path) -> np.ndarray:
    if cache.exists():
        arr = np.load(cache)
        if len(arr) == len(texts):
            return arr
    emb = default_embedder()
    order = np.argsort([len(t) for t in texts])
    out = np.zeros((len(texts), emb.dimension), np.float32)
    for i in range(0, len(texts), 64):
        idx = order[i : i + 64]
        out[idx] = emb.embed([texts[j] for j in idx])
    np.save(cache, out)
    return out


def candidates(pairs: list[Pair], v1: np.ndarray, v2: np.ndarray):
    """Per lookup: list of (candidate row, cosine, features or None if vetoed, correct?)."""
    ix = VectorIndex(v1.shape[1])
    key_row: dict[str, int] = {}
    for i, p in enumerate(pairs):  # identical q1 texts share one entry: the last one stored wins
        k = normalise_text(p.q1)
        if k in key_row:
            ix.remove(str(key_row[k]))
        key_row[k] = i
        ix.add(str(i), v1[i])
    prof1 = {}
    out = []
    for j, p in enumerate(pairs):
        q = profile(normalise_text(p.q2))
        own = normalise_text(p.q1)
        exact = key_row.get(normalise_text(p.q2))
        rows = []
        if exact is not None:
            # The exact layer answers with whatever pair stored this very text. The protocol counts
            # it correct only when that is this pair's own q1 (and the pair is a duplicate); an
            # exact repeat of another pair's q1 is marked "repeat": no semantic threshold can avoid it.
            own_text = normalise_text(pairs[exact].q1) == own
            rows.append((exact, 1.0, "exact" if own_text else "repeat", own_text and p.duplicate))
        else:
            found = [(int(sid), cos) for sid, cos in ix.search(v2[j], K, FLOOR)]
            for i, _ in found:
                if i not in prof1:
                    prof1[i] = profile(normalise_text(pairs[i].q1))
            feats = candidate_features(q, [(prof1[i], cos) for i, cos in found], FLOOR)
            for (i, cos), f in zip(found[: len(feats)], feats, strict=True):  # the scored nearest ones
                rows.append((i, cos, f, normalise_text(pairs[i].q1) == own and p.duplicate))
        out.append(rows)
    return out


def protocol(pairs, cands, policy, thresholds, semantic_only: bool = True):
    """(threshold, false-hit rate, recall, hits) per threshold under fill-then-lookup.

    semantic_only leaves out the lookups that are word-for-word another pair's q1 (exact repeats,
    answered by the exact layer whatever the threshold): the false-hit rate the policy controls.
    Without it, the README protocol's numbers, exact repeats counted as false hits.
    """
    keep = [not (semantic_only and rows and rows[0][2] == "repeat") for rows in cands]
    ndup = sum(p.duplicate for p, k in zip(pairs, keep, strict=True) if k)
    nneg = sum(not p.duplicate for p, k in zip(pairs, keep, strict=True) if k)
    best = []
    for rows, k in zip(cands, keep, strict=True):
        if not k:
            continue
        live = [r for r in rows if isinstance(r[2], list)]
        scores = iter(policy.predict(np.array([r[2] for r in live])).tolist() if live else [])
        top = (-1.0, False)
        for _i, _cos, f, ok in rows:
            s = 2.0 if f in ("exact", "repeat") else (-1.0 if f is None else next(scores))
            if s > top[0]:
                top = (s, ok)
        best.append(top)
    s = np.array([b[0] for b in best])
    ok = np.array([b[1] for b in best], dtype=bool)
    res = []
    for t in thresholds:
        hit = s >= t
        res.append((float(t), float((hit & ~ok).sum() / nneg) if nneg else 0.0,
                    float((hit & ok).sum() / ndup) if ndup else 0.0, int(hit.sum())))
    return res


def load(data_dir: str, emb_cache: str) -> dict:
    """(file name, half) -> (pairs, candidates) for every pair file."""
    data = {}
    for f in sorted(Path(data_dir).glob("*.jsonl*")):
        pairs = read_pairs(f)
        texts = [normalise_text(p.q1) for p in pairs] + [normalise_text(p.q2) for p in pairs]
        t = time.time()
        v = embed_all(texts, Path(emb_cache) / f"tierroute_cache_emb_{f.name.split('.')[0]}.npy")
        print(f"{f.name}: {len(pairs)} pairs embedded in {time.time() - t:.0f}s", file=sys.stderr)
        n = len(pairs)
        for part in ("tune", "rest"):
            idx = [i for i, p in enumerate(pairs) if split_of(p.id) == part]
            sub = [pairs[i] for i in idx]
            data[(f.name, part)] = (sub, candidates(sub, v[idx], v[n + np.array(idx)]))
    return data


def fit(data: dict, paraphrase_weight: int, hidden: int = 16, alpha: float = 1e-3) -> dict:
    """The scorer fitted on every scored (lookup, candidate) of the tune halves, as calibration JSON.

    The paraphrase file (long declarative rewrites, positives only) is weighted up so the model
    does not learn that "many words changed" always means "a different question" as QQP suggests.
    """
    X, y = [], []
    for (name, part), (_pairs, cands) in data.items():
        if part != "tune":
            continue
        weight = 1 if name.startswith("qqp") else paraphrase_weight
        for rows in cands:
            for _i, _cos, f, ok in rows:
                if isinstance(f, list):
                    X.extend([f] * weight)
                    y.extend([ok] * weight)
    X = np.array(X)
    y = np.array(y)
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-9
    mlp = MLPClassifier((hidden,), alpha=alpha, max_iter=300, random_state=0).fit((X - mean) / scale, y)
    return {
        "version": 3, "embedder": default_embedder().name, "features": FEATURE_NAMES,
        "mean": [round(float(x), 6) for x in mean], "scale": [round(float(x), 6) for x in scale],
        "layers": [{"weights": np.round(w, 6).tolist(), "bias": np.round(b, 6).tolist()}
                   for w, b in zip(mlp.coefs_, mlp.intercepts_, strict=True)],
        "floor": FLOOR, "candidates": K, "operating_points": [{"threshold": 0.5, "false_hit_rate": 0, "recall": 0}],
        "notes": "fitted by bench/cache_calibrate.py on the tune half (ids hashed) of the development pairs; "
                 "false_hit_rate = semantic-layer false hits / should-miss lookups that are not word-for-word "
                 "another stored question",
    }


GRID = np.round(np.concatenate([np.arange(0.30, 0.99, 0.005), np.arange(0.99, 0.9999, 0.0005)]), 4)
TARGETS = (0.002, 0.005, 0.01, 0.02, 0.05)


def evaluate(data: dict, cal: dict) -> tuple[list[dict], list[dict]]:
    """Operating points (from QQP tune) and, per target, every file and half's numbers."""
    policy = Policy(msgspec.convert(cal, Calibration), 0.01)
    report = {f"{name}:{part}": protocol(pairs, cands, policy, GRID) for (name, part), (pairs, cands) in data.items()}
    strict = {f"{name}:{part}": protocol(pairs, cands, policy, GRID, semantic_only=False)
              for (name, part), (pairs, cands) in data.items() if name.startswith("qqp")}
    # Operating points from the QQP tune half: the labelled negatives live there.
    qqp_tune = next(v for k, v in report.items() if k.startswith("qqp") and k.endswith(":tune"))
    points = [{"threshold": t, "false_hit_rate": round(fhr, 5), "recall": round(rec, 4)}
              for t, fhr, rec, _h in qqp_tune]
    lines = []
    for target in TARGETS:
        ok = [t for t, fhr, _r, _h in qqp_tune if fhr <= target * TARGET_MARGIN]
        thr = min(ok) if ok else GRID[-1]
        line: dict = {"target": target, "threshold": thr}
        for k, res in report.items():
            r = next(x for x in res if x[0] == thr)
            line[k] = {"fhr": round(r[1], 4), "recall": round(r[2], 3)}
        for k, res in strict.items():
            r = next(x for x in res if x[0] == thr)
            line[k + ":readme-protocol"] = {"fhr": round(r[1], 4), "recall": round(r[2], 3)}
        lines.append(line)
    return points, lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/cache")
    ap.add_argument("--out", default="src/tierroute/cache/calibration.json")
    ap.add_argument("--emb-cache", default="/tmp")
    ap.add_argument("--paraphrase-weight", type=int, default=PARAPHRASE_WEIGHT)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--alpha", type=float, default=1e-2)
    args = ap.parse_args()
    data = load(args.data, args.emb_cache)
    cal = fit(data, args.paraphrase_weight, args.hidden, args.alpha)
    cal["operating_points"], lines = evaluate(data, cal)
    Path(args.out).write_text(json.dumps(cal, indent=1) + "\n")
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
