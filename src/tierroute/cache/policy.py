"""When is a cached answer to a similar question good enough to serve?

A candidate found by the vector index passes two stages. First the guards (``guards.veto``): numbers,
negation, opposite words and named entities must agree. Then a small logistic model over the cosine
similarity and lexical overlap features estimates the chance that the two turns ask the same thing.
The user sets the false-hit rate they accept; the calibration file shipped with the package (computed
by ``bench/cache_calibrate.py`` on the development pairs, holding only fitted numbers) maps that rate
to a score threshold, measured under the same fill-then-lookup protocol ``cache eval`` runs.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import msgspec
import numpy as np

from .guards import FEATURE_NAMES, TextProfile, features, veto


class OperatingPoint(msgspec.Struct):
    threshold: float
    false_hit_rate: float
    recall: float


class Calibration(msgspec.Struct, kw_only=True):
    version: int
    embedder: str
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
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


class Policy:
    def __init__(self, cal: Calibration, target_false_hit_rate: float) -> None:
        self.cal = cal
        self._mean = np.array(cal.mean)
        self._w = np.array(cal.coef) / np.array(cal.scale)
        self._b = cal.intercept - float(self._w @ self._mean)
        self.floor = cal.floor
        self.candidates = cal.candidates
        self.threshold = self.threshold_for(target_false_hit_rate)

    def threshold_for(self, target: float) -> float:
        """The loosest threshold whose measured false-hit rate is within the target."""
        ok = [p.threshold for p in self.cal.operating_points if p.false_hit_rate <= target]
        return min(ok) if ok else max(p.threshold for p in self.cal.operating_points)

    def score(self, cos: float, query: TextProfile, cached: TextProfile) -> tuple[float, str | None]:
        """(probability-like score, veto reason or None)."""
        reason = veto(query, cached)
        if reason is not None:
            return 0.0, reason
        z = float(self._w @ np.array(features(cos, query, cached))) + self._b
        return 1.0 / (1.0 + math.exp(-z)), None
