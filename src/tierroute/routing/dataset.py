"""Labelled routing data: JSONL (or .jsonl.gz) rows of ``{"messages", "models": {name: {score, cost_usd}}}``,
the format of the shared routing data README. A bad row is a ``ValueError`` naming the file and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np


class RoutingData:
    def __init__(self, texts: list[str], sources: list[str], models: list[str], scores: np.ndarray,
                 costs: np.ndarray, labels: list[str] | None = None) -> None:
        self.texts, self.sources, self.models = texts, sources, models
        self.scores, self.costs = scores, costs  # (n, models); NaN where a row lacks that model
        # The full `source` (e.g. "mmlu/anatomy"): a finer kind of prompt than `sources`, used in
        # training only (a router sees only the text), to learn which kinds need the strong model.
        self.labels = labels if labels is not None else list(sources)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: np.ndarray) -> RoutingData:
        return RoutingData([self.texts[i] for i in idx], [self.sources[i] for i in idx], self.models,
                           self.scores[idx], self.costs[idx], [self.labels[i] for i in idx])

    def complete(self, cols: list[int]) -> np.ndarray:
        """Row indices that have every model in ``cols``."""
        return np.flatnonzero(~np.isnan(self.scores[:, cols]).any(axis=1))


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else open(path, encoding="utf-8")


def message_text(messages: list) -> str:
    """The last user turn's text (what a router sees), falling back to all text."""
    def text(m: dict) -> str:
        c = m.get("content")
        if isinstance(c, str):
            return c
        if isinstance(c, list):
            return "\n".join(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
        return ""
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            t = text(m)
            if t:
                return t
    return "\n".join(text(m) for m in messages if isinstance(m, dict))


def load_data(paths: list[str | Path]) -> RoutingData:
    rows: list[tuple[str, str, dict, str]] = []
    names: dict[str, None] = {}
    for p in map(Path, paths):
        if not p.exists():
            raise ValueError(f"{p}: file not found")
        with _open(p) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{p}:{lineno}"
                try:
                    r = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{where}: not JSON ({e.msg})") from None
                if not isinstance(r, dict) or not isinstance(r.get("messages"), list) or not r["messages"]:
                    raise ValueError(f"{where}: needs a non-empty `messages` list")
                models = r.get("models")
                if not isinstance(models, dict) or not models:
                    raise ValueError(f"{where}: needs a `models` object {{name: {{score, cost_usd}}}}")
                for m, v in models.items():
                    if (not isinstance(v, dict) or not isinstance(v.get("score"), int | float)
                            or not isinstance(v.get("cost_usd"), int | float)):
                        raise ValueError(f"{where}: models.{m} needs numeric `score` and `cost_usd`")
                    if not 0 <= v["score"] <= 1 or v["cost_usd"] < 0:
                        raise ValueError(f"{where}: models.{m}: score must be in [0, 1] and cost_usd >= 0")
                    names.setdefault(m)
                label = str(r.get("source") or p.name.split(".")[0])
                rows.append((message_text(r["messages"]), label.split("/")[0], models, label))
    if not rows:
        raise ValueError("no rows in " + ", ".join(map(str, paths)))
    model_list = list(names)
    scores = np.full((len(rows), len(model_list)), np.nan)
    costs = np.full((len(rows), len(model_list)), np.nan)
    col = {m: i for i, m in enumerate(model_list)}
    for i, (_, _, models, _) in enumerate(rows):
        for m, v in models.items():
            scores[i, col[m]] = float(v["score"])
            costs[i, col[m]] = float(v["cost_usd"])
    return RoutingData([r[0] for r in rows], [r[1] for r in rows], model_list, scores, costs, [r[3] for r in rows])
