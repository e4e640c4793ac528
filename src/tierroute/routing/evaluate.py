"""Router quality metrics, as RouteLLM defines them (see the routing data README).

Each prompt gets a router score (higher = more needs the strong model). Sending the top share x of
prompts to the strong model gives quality q(x), the mean score of the answers chosen; PGR(x) =
(q(x) - q_weak) / (q_strong - q_weak). APGR is the area under PGR over x in [0, 1] (trapezoids at
every operating point k/n); CPT(p) the smallest share with PGR >= p; the 95% point the smallest
share (and the cheapest operating point, as a fraction of all-strong cost) reaching 95% of the
all-strong quality. The strong model is the one with the best mean score, the weak one the cheapest.
"""

from __future__ import annotations

import numpy as np

KEYS = ("apgr", "cpt50", "cpt80", "strong_share_at_95", "cost_fraction_at_95")


def pick_pair(scores: np.ndarray, costs: np.ndarray) -> tuple[int, int]:
    """(strong, weak) column indices: best mean quality, cheapest total cost."""
    strong = int(np.argmax(np.nanmean(scores, axis=0)))
    order = np.argsort(np.nanmean(costs, axis=0), kind="stable")
    weak = int(order[0]) if int(order[0]) != strong else int(order[1])
    return strong, weak


def curve(router_scores: np.ndarray, s_strong: np.ndarray, s_weak: np.ndarray, c_strong: np.ndarray,
          c_weak: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, quality, cost) at every operating point k = 0..n strong calls."""
    n = len(router_scores)
    order = np.argsort(-np.asarray(router_scores, dtype=np.float64), kind="stable")
    gain_q = np.concatenate([[0.0], np.cumsum(s_strong[order] - s_weak[order])])
    gain_c = np.concatenate([[0.0], np.cumsum(c_strong[order] - c_weak[order])])
    x = np.arange(n + 1) / n
    return x, (s_weak.sum() + gain_q) / n, c_weak.sum() + gain_c


def metrics_from_curve(x: np.ndarray, q: np.ndarray, cost: np.ndarray, q_s: float, q_w: float,
                       cost_s: float) -> dict[str, float]:
    gap = q_s - q_w
    pgr = (q - q_w) / gap if gap > 0 else np.ones_like(q)

    def first(mask: np.ndarray) -> float:
        idx = np.flatnonzero(mask)
        return float(x[idx[0]]) if len(idx) else 1.0

    ok95 = q >= 0.95 * q_s - 1e-12
    return {
        "apgr": float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(x))),
        "cpt50": first(pgr >= 0.5 - 1e-12),
        "cpt80": first(pgr >= 0.8 - 1e-12),
        "strong_share_at_95": first(ok95),
        "cost_fraction_at_95": float(cost[ok95].min() / cost_s) if ok95.any() and cost_s > 0 else 1.0,
    }


def evaluate(router_scores: np.ndarray, scores: np.ndarray, costs: np.ndarray, *, random_trials: int = 20,
             seed: int = 0) -> dict[str, object]:
    """Metrics for a router's scores on ``n`` prompts, with ``scores``/``costs`` of shape (n, models).
    ``random`` averages ``random_trials`` seeded random orderings."""
    strong, weak = pick_pair(scores, costs)
    s_s, s_w, c_s, c_w = scores[:, strong], scores[:, weak], costs[:, strong], costs[:, weak]
    q_s, q_w, cost_s = float(s_s.mean()), float(s_w.mean()), float(c_s.sum())
    x, q, cost = curve(router_scores, s_s, s_w, c_s, c_w)
    out: dict[str, object] = {k: round(v, 4) for k, v in metrics_from_curve(x, q, cost, q_s, q_w, cost_s).items()}
    rng = np.random.default_rng(seed)
    acc = dict.fromkeys(KEYS, 0.0)
    for _ in range(random_trials):
        xr, qr, cr = curve(rng.random(len(s_s)), s_s, s_w, c_s, c_w)
        for k, v in metrics_from_curve(xr, qr, cr, q_s, q_w, cost_s).items():
            acc[k] += v / random_trials
    out["random"] = {k: round(v, 4) for k, v in acc.items()}
    return out
