"""The router trained on the user's own data (``tierroute router train``).

Inputs per prompt: the shared sentence embedding plus cheap hand features (``features.py``),
standardised. Workloads differ in what makes a prompt hard (a maths word problem by its number of
steps, a knowledge question by its subject), so the router is a small mixture of experts: a gate
(multinomial logistic regression) recognises which kind of prompt it is, and each kind has an
expert with two well-regularised linear heads: one logistic regression per model predicting "this
model answers well" (score >= 0.5), and a ridge regression predicting the log cost of the strong
model's answer (a long answer means many steps, i.e. a hard prompt), plus two votes over the
embedding: the mean gain of the nearest training prompts, and the gain expected from the prompt's
likely label (a softmax over the fine `source` labels of the training rows, e.g. the MMLU subject;
only when the data names them); and a text head, a ridge regression of the gain on the prompt's
hashed word n-grams (TF-IDF, ``features.gram_counts``), which reads the whole prompt where the
embedding stops at 128 tokens and sees finer topics than the label. An expert's need score blends
the predicted quality gain of the strong over the weak model, the difficulty proxy, the two votes
and the text head; every strength and weight is cross-validated. Experts' scores are made comparable by mapping each
onto its own training distribution (a quantile), then weighted by the gate.

The file is a plain ``.npz`` of arrays plus a JSON header (no pickle: loading never runs code).
A need quantile of q means "harder than q of the training prompts", so a willingness-to-pay share
w sends about the top w of prompts to strong models.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tierroute.routing.features import gram_counts, prompt_features, text_score

FORMAT = "tierroute-router/5"
READABLE = ("tierroute-router/3", "tierroute-router/4", FORMAT)  # /3 has no label head, /3 and /4 no text head


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def knn_mean(sim: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Mean of ``values`` over each row's ``k`` most similar columns."""
    k = min(k, sim.shape[1])
    idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    return values[idx].mean(axis=1)


def label_gain(vecs: np.ndarray, label_w: np.ndarray, label_b: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Expected strong-over-weak gain under a softmax over the training data's fine labels (e.g. the
    MMLU subject): what the prompt's likely kind of question gained, shrunk towards the mean."""
    logits = np.atleast_2d(vecs).astype(np.float32) @ label_w.T + label_b
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e @ gains) / e.sum(axis=1)


class Expert:
    """Linear heads plus two votes over the embedding: the quality gain the strong model had on the k
    most similar training prompts, and the gain of the prompt's likely label (its subject, when the
    training data names one); plus the text head over word n-grams. The subject explains most of
    which MMLU prompts gain from the strong model; the text head, neighbours and linear heads add
    what is left."""

    ARRAYS = ("quality_w", "quality_b", "cost_w", "train_needs", "knn_vecs", "knn_gain", "label_w", "label_b",
              "label_gains", "text_idx", "text_idf", "text_coef")

    def __init__(self, *, name: str, quality_w: np.ndarray, quality_b: np.ndarray, cost_w: np.ndarray,
                 cost_b: float, gain_norm: tuple[float, float], cost_norm: tuple[float, float], blend: float,
                 train_needs: np.ndarray, info: dict, knn_vecs: np.ndarray | None = None,
                 knn_gain: np.ndarray | None = None, knn_k: int = 100, knn_weight: float = 0.0,
                 lin_norm: tuple[float, float] = (0.0, 1.0), knn_norm: tuple[float, float] = (0.0, 1.0),
                 label_w: np.ndarray | None = None, label_b: np.ndarray | None = None,
                 label_gains: np.ndarray | None = None, label_weight: float = 0.0,
                 label_norm: tuple[float, float] = (0.0, 1.0), text_idx: np.ndarray | None = None,
                 text_idf: np.ndarray | None = None, text_coef: np.ndarray | None = None, text_b: float = 0.0,
                 text_unseen_idf: float = 1.0, text_weight: float = 0.0,
                 text_norm: tuple[float, float] = (0.0, 1.0)) -> None:
        self.name = name
        self.quality_w = quality_w.astype(np.float32)
        self.quality_b = quality_b.astype(np.float32)
        self.cost_w = cost_w.astype(np.float32)
        self.cost_b, self.blend = float(cost_b), float(blend)
        self.gain_norm, self.cost_norm = tuple(gain_norm), tuple(cost_norm)
        self.train_needs = np.sort(train_needs.astype(np.float64))
        self.info = info
        self.knn_vecs = (knn_vecs if knn_vecs is not None else np.zeros((0, 1))).astype(np.float16)
        self.knn_gain = (knn_gain if knn_gain is not None else np.zeros(0)).astype(np.float32)
        self.knn_k, self.knn_weight = int(knn_k), float(knn_weight)
        self.lin_norm, self.knn_norm = tuple(lin_norm), tuple(knn_norm)
        self._knn32 = self.knn_vecs.astype(np.float32)
        self.label_w = (label_w if label_w is not None else np.zeros((0, 1))).astype(np.float32)
        self.label_b = (label_b if label_b is not None else np.zeros(0)).astype(np.float32)
        self.label_gains = (label_gains if label_gains is not None else np.zeros(0)).astype(np.float32)
        self.label_weight, self.label_norm = float(label_weight), tuple(label_norm)
        self.text_idx = (text_idx if text_idx is not None else np.zeros(0)).astype(np.int32)
        self.text_idf = (text_idf if text_idf is not None else np.zeros(0)).astype(np.float32)
        self.text_coef = (text_coef if text_coef is not None else np.zeros(0)).astype(np.float32)
        self.text_b, self.text_unseen_idf = float(text_b), float(text_unseen_idf)
        self.text_weight, self.text_norm = float(text_weight), tuple(text_norm)

    def linear(self, z: np.ndarray, si: int, wi: int) -> np.ndarray:
        q = _sigmoid(z @ self.quality_w.T + self.quality_b)
        gain = (q[:, si] - q[:, wi] - self.gain_norm[0]) / self.gain_norm[1]
        cost = (z @ self.cost_w + self.cost_b - self.cost_norm[0]) / self.cost_norm[1]
        return (1 - self.blend) * gain + self.blend * cost

    def text_vote(self, grams: list[dict[int, int]]) -> np.ndarray:
        """The word n-gram head's predicted gain on texts' ``gram_counts`` (ridge over hashed TF-IDF,
        ``features.text_score``)."""
        return np.array([text_score(g, self.text_idx, self.text_idf, self.text_coef, self.text_unseen_idf)
                         for g in grams]) + self.text_b

    def need(self, z: np.ndarray, si: int, wi: int, vecs: np.ndarray | None = None,
             grams: list[dict[int, int]] | None = None) -> np.ndarray:
        """Each part standardised on the training rows, then blended with cross-validated weights."""
        lin = (self.linear(z, si, wi) - self.lin_norm[0]) / self.lin_norm[1]
        wk = self.knn_weight if vecs is not None and len(self.knn_gain) else 0.0
        wl = self.label_weight if vecs is not None and len(self.label_gains) else 0.0
        wt = self.text_weight if grams is not None and len(self.text_idx) else 0.0
        out = (1 - wk - wl - wt) * lin
        if wt > 0:
            out = out + wt * (self.text_vote(grams) - self.text_norm[0]) / self.text_norm[1]  # type: ignore[arg-type]
        if wk > 0:
            kn = knn_mean(np.atleast_2d(vecs).astype(np.float32) @ self._knn32.T, self.knn_gain, self.knn_k)
            out = out + wk * (kn - self.knn_norm[0]) / self.knn_norm[1]
        if wl > 0:
            lg = label_gain(np.atleast_2d(vecs), self.label_w, self.label_b, self.label_gains)
            out = out + wl * (lg - self.label_norm[0]) / self.label_norm[1]
        return out

    def quantile(self, need: np.ndarray) -> np.ndarray:
        if len(self.train_needs) == 0:
            return np.full(len(need), 0.5)
        return np.searchsorted(self.train_needs, need) / len(self.train_needs)

    def header(self) -> dict:
        return {"name": self.name, "cost_b": self.cost_b, "blend": self.blend, "gain_norm": list(self.gain_norm),
                "cost_norm": list(self.cost_norm), "info": self.info, "knn_k": self.knn_k,
                "knn_weight": self.knn_weight, "lin_norm": list(self.lin_norm), "knn_norm": list(self.knn_norm),
                "label_weight": self.label_weight, "label_norm": list(self.label_norm), "text_b": self.text_b,
                "text_unseen_idf": self.text_unseen_idf, "text_weight": self.text_weight,
                "text_norm": list(self.text_norm)}


class TrainedRouter:
    def __init__(self, *, models: list[str], strong: str, weak: str, mean: np.ndarray, scale: np.ndarray,
                 gate_w: np.ndarray, gate_b: np.ndarray, experts: list[Expert], mean_cost: np.ndarray,
                 embedder_name: str, info: dict) -> None:
        self.models, self.strong, self.weak = models, strong, weak
        self.mean, self.scale = mean.astype(np.float32), scale.astype(np.float32)
        self.gate_w, self.gate_b = gate_w.astype(np.float32), gate_b.astype(np.float32)
        self.experts = experts
        self.mean_cost = mean_cost
        self.embedder_name = embedder_name
        self.info = info
        self._si, self._wi = models.index(strong), models.index(weak)

    # ------------------------------------------------------------------ inference

    def inputs(self, vecs: np.ndarray, texts: list[str]) -> np.ndarray:
        hand = np.array([prompt_features(t) for t in texts], dtype=np.float32)
        x = np.hstack([np.atleast_2d(vecs).astype(np.float32), hand])
        return (x - self.mean) / self.scale

    def gate(self, z: np.ndarray) -> np.ndarray:
        if len(self.experts) == 1:
            return np.ones((len(z), 1))
        logits = z @ self.gate_w.T + self.gate_b
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def need_from_inputs(self, z: np.ndarray, vecs: np.ndarray | None = None,
                         grams: list[dict[int, int]] | None = None) -> np.ndarray:
        """A need quantile in [0, 1] per row: higher = more needs the strong model."""
        g = self.gate(z)
        g = np.where(g < 0.02, 0.0, g)  # an expert the gate rules out costs nothing
        g /= g.sum(axis=1, keepdims=True)
        out = np.zeros(len(z))
        for j, ex in enumerate(self.experts):
            if g[:, j].max() > 0:
                out += g[:, j] * ex.quantile(ex.need(z, self._si, self._wi, vecs, grams))
        return out

    def need(self, vecs: np.ndarray, texts: list[str]) -> np.ndarray:
        vecs = np.atleast_2d(vecs)
        # Hashing a prompt's n-grams costs ~0.3 ms for 1k characters: once per prompt, shared by the
        # experts, and only when some expert has a text head.
        grams = [gram_counts(t) for t in texts] if any(e.text_weight > 0 for e in self.experts) else None
        return self.need_from_inputs(self.inputs(vecs, texts), vecs, grams)

    def quality_from_inputs(self, z: np.ndarray) -> np.ndarray:
        """Predicted probability that each model answers well, shape (n, models), gate-weighted."""
        g = self.gate(z)
        out = np.zeros((len(z), len(self.models)))
        for j, ex in enumerate(self.experts):
            out += g[:, j:j + 1] * _sigmoid(z @ ex.quality_w.T + ex.quality_b)
        return out

    def need_quantile(self, vec: np.ndarray, text: str = "") -> float:
        return float(self.need(np.atleast_2d(vec), [text])[0])

    # ------------------------------------------------------------------ file

    def save(self, path: str | Path) -> None:
        header = {"format": FORMAT, "models": self.models, "strong": self.strong, "weak": self.weak,
                  "embedder": self.embedder_name, "info": self.info, "experts": [e.header() for e in self.experts]}
        arrays = {"mean": self.mean, "scale": self.scale, "gate_w": self.gate_w, "gate_b": self.gate_b,
                  "mean_cost": self.mean_cost}
        for i, e in enumerate(self.experts):
            for a in Expert.ARRAYS:
                arrays[f"e{i}_{a}"] = getattr(e, a)
        with open(path, "wb") as f:
            np.savez_compressed(f, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> TrainedRouter:
        with np.load(path, allow_pickle=False) as z:
            if "header" not in z:
                raise ValueError("not a tierroute router file (no header)")
            header = json.loads(bytes(z["header"]).decode())
            if header.get("format") not in READABLE:
                raise ValueError(f"not a tierroute router file (format {header.get('format')!r}, want {FORMAT})")

            def opt(name: str) -> np.ndarray | None:
                return z.get(name)

            experts = [Expert(name=h["name"], quality_w=z[f"e{i}_quality_w"], quality_b=z[f"e{i}_quality_b"],
                              cost_w=z[f"e{i}_cost_w"], cost_b=h["cost_b"], gain_norm=h["gain_norm"],
                              cost_norm=h["cost_norm"], blend=h["blend"], train_needs=z[f"e{i}_train_needs"],
                              info=h["info"], knn_vecs=z[f"e{i}_knn_vecs"], knn_gain=z[f"e{i}_knn_gain"],
                              knn_k=h["knn_k"], knn_weight=h["knn_weight"], lin_norm=h["lin_norm"],
                              knn_norm=h["knn_norm"], label_w=opt(f"e{i}_label_w"), label_b=opt(f"e{i}_label_b"),
                              label_gains=opt(f"e{i}_label_gains"), label_weight=h.get("label_weight", 0.0),
                              label_norm=h.get("label_norm", (0.0, 1.0)), text_idx=opt(f"e{i}_text_idx"),
                              text_idf=opt(f"e{i}_text_idf"), text_coef=opt(f"e{i}_text_coef"),
                              text_b=h.get("text_b", 0.0), text_unseen_idf=h.get("text_unseen_idf", 1.0),
                              text_weight=h.get("text_weight", 0.0), text_norm=h.get("text_norm", (0.0, 1.0)))
                       for i, h in enumerate(header["experts"])]
            return cls(models=header["models"], strong=header["strong"], weak=header["weak"], mean=z["mean"],
                       scale=z["scale"], gate_w=z["gate_w"], gate_b=z["gate_b"], experts=experts,
                       mean_cost=z["mean_cost"], embedder_name=header["embedder"], info=header["info"])
