"""When is a cached answer to a similar question good enough to serve?

A candidate found by the vector index passes two stages. First the guards (``guards.veto``): numbers,
negation, opposite words and named entities must agree. Then a small neural scorer (one hidden layer
of 16) over the cosine similarity, lexical overlap features and the *crowding* of the neighbourhood
estimates the chance that the cached answer is the right one. Crowding matters: when several cached
entries are about as close as the best one, which of their answers applies is ambiguous.

The user sets the false-hit rate they accept; the calibration file shipped with the package
(computed by ``bench/cache_calibrate.py`` from the development pairs, holding only fitted numbers)
maps that rate to a score threshold, measured under the same fill-then-lookup protocol that
``cache eval`` runs.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import msgspec
import numpy as np

from .guards import FEATURE_NAMES as PAIR_FEATURES
from .guards import TextProfile, features, veto

FEATURE_NAMES = [*PAIR_FEATURES, "rival", "margin", "crowd"]
CROWD_BAND = 0.05
# Only the nearest few candidates are checked and scored (the others count only through their
# cosines, as rivals). On the development pairs the served candidate was the nearest one in all but
# 5 of 40k lookups, and each check of a cached text costs up to ~0.1 ms.
SCORED = 2
# The operating points were measured on ~13k should-miss lookups: at 1% that is +-0.1 point of
# sampling error (and the held-out half ran ~0.1 point above the tuning half), so the cache aims 15%
# under the rate the user accepts.
TARGET_MARGIN = 0.85


class OperatingPoint(msgspec.Struct):
    threshold: float
    false_hit_rate: float
    recall: float


class Layer(msgspec.Struct):
    weights: list[list[float]]  # (inputs, outputs)
    bias: list[float]


class Calibration(msgspec.Struct, kw_only=True):
    version: int
    embedder: str
    features: list[str]
    mean: list[float]  # input standardisation
    scale: list[float]
    layers: list[Layer]  # ReLU between layers, logistic at the end
    floor: float  # candidates below this cosine are never considered
    candidates: int = 8  # neighbours scored per lookup
    operating_points: list[OperatingPoint]  # ascending threshold, measured on the tuning split
    notes: str = ""


def load_calibration(path: str = "") -> Calibration:
    data = Path(path).read_bytes() if path else resources.files(__package__).joinpath(
        "calibration.json").read_bytes()
    cal = msgspec.json.decode(data, type=Calibration)
    if cal.features != FEATURE_NAMES:
        raise ValueError(f"calibration {path or 'calibration.json'} was made for features {cal.features}, "
                         f"this tierroute computes {FEATURE_NAMES}: re-run bench/cache_calibrate.py")
    return cal


def candidate_features(query: TextProfile, found: list[tuple[TextProfile, float]], floor: float
                       ) -> list[list[float] | None]:
    """For each of the nearest SCORED candidates: the scorer's input row, or None when a guard vetoes it."""
    sims = [s for _, s in found]
    rows: list[list[float] | None] = []
    for i, (cached, sim) in enumerate(found[:SCORED]):
        if veto(query, cached) is not None:
            rows.append(None)
            continue
        others = sims[:i] + sims[i + 1 :]
        rival = max(others) if others else floor
        crowd = float(sum(1 for s in others if s >= sim - CROWD_BAND))
        rows.append([*features(sim, query, cached), rival, sim - rival, crowd])
    return rows


class Policy:
    def __init__(self, cal: Calibration, target_false_hit_rate: float) -> None:
        self.cal = cal
        self._mean = np.array(cal.mean)
        self._scale = np.array(cal.scale)
        self._layers = [(np.array(layer.weights), np.array(layer.bias)) for layer in cal.layers]
        self.floor = cal.floor
        self.candidates = cal.candidates
        self.threshold = self.threshold_for(target_false_hit_rate)

    def threshold_for(self, target: float) -> float:
        """The loosest threshold whose measured false-hit rate is within the target (less a margin)."""
        ok = [p.threshold for p in self.cal.operating_points if p.false_hit_rate <= target * TARGET_MARGIN]
        return min(ok) if ok else max(p.threshold for p in self.cal.operating_points)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        h = (rows - self._mean) / self._scale
        for n, (w, b) in enumerate(self._layers):
            h = h @ w + b
            if n < len(self._layers) - 1:
                h = np.maximum(h, 0.0)
        return 1.0 / (1.0 + np.exp(-h[:, 0]))

    def scores(self, query: TextProfile, found: list[tuple[TextProfile, float]]) -> list[float | None]:
        """Per candidate (profile, cosine): the score, None when vetoed, 0.0 when not scored (beyond
        the nearest SCORED: a rival only; its profile is never read, so never computed)."""
        rows = candidate_features(query, found, self.floor)
        unscored = [0.0] * (len(found) - len(rows))
        live = [r for r in rows if r is not None]
        if not live:
            return [None] * len(rows) + unscored
        it = iter(self.predict(np.array(live, dtype=np.float64)).tolist())
        return [None if r is None else next(it) for r in rows] + unscored
