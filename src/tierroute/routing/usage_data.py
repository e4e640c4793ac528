"""Routing data from the gateway's own usage log: ``tierroute router train --from-usage``.

Each usage record (one request) joined with its feedback (``POST /v1/feedback``) becomes one
``RoutingData`` row: the prompt the gateway logged, and a score and a cost per model.

Which records are used. Only answered (status 200) chat requests that a model ran, with their
prompt logged (``usage.log_content: true``). Skipped, and counted by reason: other endpoints, failed
requests, cache hits (no model ran on that prompt: the answer was made for an earlier one), and
records without logged content.

Scores, from what the gateway saw:
  * a model whose answer a cascade escalated away from (it failed a check or the judge) scores 0;
    the successful attempts of a record, in order, are these models and then the one that answered;
  * the model that answered scores the client's feedback when there is any (the last one given),
    else 1: its answer stood (it passed the checks, or nothing came after it and nobody complained).
Feedback is about the answer the client saw, so it scores only the model that answered.

Rows with one model's outcome. Most records hold the outcome of one model only (the cascade kept
the first answer, or the route was not a cascade). The escalations in the log say which model the
gateway turns to when which one fails ("B is stronger than A" when some record escalated from A to
B, directly or through others). For a model that did not run on a prompt:
  * if it is stronger than the model whose answer stood, its score is imputed as the larger of
    that answer's score and the model's own mean observed score: a stronger model does at least as
    well as an answer that stood (a passed cheap answer gives "no gain from escalating", the very
    label a cascade's non-escalations carry), and an answer the client scored low gives the gain
    the stronger model usually achieves;
  * otherwise the score stays NaN (unknown). ``train.py`` fits each model's quality head only on
    the rows that score it, cross-validates on the rows that score both models of the pair, and
    counts a missing gain as 0 in its neighbour and label votes.
So a cascade's log yields complete strong/weak pairs on every row whose cascade started at the weak
model: escalated rows (gain 1, or the feedback) and kept rows (gain 0, or more after low feedback).

Costs. The model that answered: its catalog price on the record's token counts (for a record that
was not escalated this is the record's ``cost_usd``, which stands in when the catalog no longer has
the model). Escalated-away answers: the rest of the record's ``cost_usd`` (exact for one escalation;
several share it by their catalog prices; a judge's cost is in that rest too). A model that did not
run: its catalog price on the record's token counts, what it would have cost. NaN where the catalog
lacks what a price needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg

from tierroute.catalog import Catalog
from tierroute.routing.dataset import RoutingData, message_text
from tierroute.types import UsageEvent
from tierroute.usage import schema
from tierroute.usage.build import build_store
from tierroute.usage.config import UsageConfig
from tierroute.usage.recorder import UsageStore


@dataclass
class Record:
    """One usage record, with the prompt it logged and its feedback score (None when none was given)."""

    event: UsageEvent
    content: str | None
    feedback: float | None = None


@dataclass
class UsageData:
    """The routing data built from usage, and an account of what was used and why not."""

    data: RoutingData | None
    request_ids: list[str]  # the record behind each row, in row order
    read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    with_feedback: int = 0  # rows whose answering model is scored by feedback
    escalated: int = 0  # rows with at least one escalated-away answer
    imputed: int = 0  # scores filled in for models that did not run (see the module docstring)
    skipped_feedback: int = 0  # feedback given on records that could not be used

    def summary(self) -> str:
        lines = [f"usage records: {self.read} read, {len(self.request_ids)} used ({self.with_feedback} scored by "
                 f"feedback, {self.escalated} escalated), {sum(self.skipped.values())} skipped"]
        for why, n in self.skipped.most_common():
            lines.append(f"  skipped {n}: {why}")
        if self.skipped_feedback:
            lines.append(f"  {self.skipped_feedback} feedback given on skipped records was not used")
        if self.data is not None:
            observed = (~np.isnan(self.data.scores)).sum(axis=0)
            parts = [f"{m} {int(k)}" for m, k in zip(self.data.models, observed, strict=True)]
            lines.append(f"  scores per model (observed or imputed): {', '.join(parts)}; {self.imputed} imputed")
        return "\n".join(lines)


SKIP_ENDPOINT = "not a chat request"
SKIP_FAILED = "failed request (no answer)"
SKIP_CACHE = "answered from the cache (no model ran on the prompt)"
SKIP_CONTENT = "no logged prompt (usage.log_content was off)"
SKIP_TEXT = "logged prompt has no text"


def _model_of(deployment: str) -> str:
    # Deployment ids are "<provider>/<catalog model>" (config/loader.py).
    return deployment.split("/", 1)[1] if "/" in deployment else deployment


def outcomes(rec: Record) -> tuple[list[str], str]:
    """(models whose answers were escalated away from, in order; the model that answered)."""
    assert rec.event.model is not None
    ok = [_model_of(a.deployment) for a in rec.event.attempts if a.outcome == "ok"]
    failed = [m for m in ok[:-1] if m != rec.event.model] if rec.event.escalated else []
    return list(dict.fromkeys(failed)), rec.event.model


def _prompt(content: str) -> str | None:
    try:
        logged = json.loads(content)
    except json.JSONDecodeError:
        return None
    messages = logged.get("messages") if isinstance(logged, dict) else None
    if not isinstance(messages, list):
        return None
    return message_text(messages).strip() or None


def _stronger(escalations: Iterable[tuple[list[str], str]]) -> dict[str, set[str]]:
    """model -> the models the log shows the gateway escalating to from it, transitively; a pair
    seen both ways says nothing and is dropped."""
    up: dict[str, set[str]] = {}
    for failed, final in escalations:
        chain = [*failed, final]
        for i, a in enumerate(chain):
            up.setdefault(a, set()).update(chain[i + 1:])
    changed = True
    while changed:  # transitive closure; the model sets are small
        changed = False
        for a, bs in up.items():
            more = set().union(*(up.get(b, set()) for b in bs)) - bs - {a}
            if more:
                bs |= more
                changed = True
    return {a: {b for b in bs if a not in up.get(b, set())} for a, bs in up.items()}


def build_usage_data(records: Iterable[Record], catalog: Catalog | None) -> UsageData:
    """Turn records into routing rows by the rules of the module docstring."""
    out = UsageData(data=None, request_ids=[])
    kept: list[tuple[Record, str, list[str], str]] = []
    for rec in records:
        out.read += 1
        why = None
        if rec.event.endpoint not in ("chat", "messages"):
            why = SKIP_ENDPOINT
        elif rec.event.status != 200 or rec.event.model is None:
            why = SKIP_FAILED
        elif rec.event.cache.startswith("hit"):
            why = SKIP_CACHE
        elif rec.content is None:
            why = SKIP_CONTENT
        if why is None:
            text = _prompt(rec.content or "")
            if text is None:
                why = SKIP_TEXT
            else:
                failed, final = outcomes(rec)
                kept.append((rec, text, failed, final))
                continue
        out.skipped[why] += 1
        out.skipped_feedback += rec.feedback is not None
    if not kept:
        return out
    stronger = _stronger((f, m) for _, _, f, m in kept if f)
    models = list(dict.fromkeys(m for _, _, f, final in kept for m in [*f, final]))
    col = {m: j for j, m in enumerate(models)}
    scores = np.full((len(kept), len(models)), np.nan)
    costs = np.full((len(kept), len(models)), np.nan)
    for i, (rec, _, failed, final) in enumerate(kept):
        scores[i, [col[m] for m in failed]] = 0.0
        scores[i, col[final]] = rec.feedback if rec.feedback is not None else 1.0
        costs[i] = _costs(rec, models, failed, final, catalog)
        out.with_feedback += rec.feedback is not None
        out.escalated += bool(failed)
    mean_seen = np.nanmean(scores, axis=0)  # every column has at least one observed score
    for i, (_, _, _, final) in enumerate(kept):
        stood = scores[i, col[final]]
        for m in stronger.get(final, set()):
            if math.isnan(scores[i, col[m]]):
                scores[i, col[m]] = max(stood, float(mean_seen[col[m]]))
                out.imputed += 1
    sources = [rec.event.task or "chat" for rec, *_ in kept]
    labels = [f"{s}/{rec.event.route}" if rec.event.route else s for s, (rec, *_) in zip(sources, kept, strict=True)]
    out.data = RoutingData([t for _, t, _, _ in kept], sources, models, scores, costs, labels)
    out.request_ids = [rec.event.request_id for rec, *_ in kept]
    return out


def _costs(rec: Record, models: list[str], failed: list[str], final: str, catalog: Catalog | None) -> np.ndarray:
    def price(m: str) -> float:
        info = catalog.models.get(m) if catalog is not None else None
        return info.cost(rec.event.prompt_tokens, rec.event.completion_tokens) if info is not None else math.nan

    row = np.array([price(m) for m in models])
    j = models.index(final)
    if not failed:
        row[j] = rec.event.cost_usd if math.isnan(row[j]) else row[j]
    elif not math.isnan(row[j]):
        # What the escalated-away answers cost is the rest of the record's cost.
        rest = max(0.0, rec.event.cost_usd - row[j])
        idx = [models.index(m) for m in failed]
        est = row[idx]
        if len(idx) == 1:
            row[idx[0]] = rest
        elif not np.isnan(est).any() and est.sum() > 0:
            row[idx] = est / est.sum() * rest
    return row


# ---------------------------------------------------------------------------- reading the store


async def read_records(store: UsageStore, since_ts: float | None = None) -> list[Record]:
    """Every usage record (oldest first) with its feedback score, from an opened store."""
    cols = ", ".join(f"e.{c}" for c in schema.COLUMN_NAMES)
    sql = (f"SELECT {cols}, f.score FROM {store.table} e LEFT JOIN {store.feedback_table} f "
           "ON f.request_id = e.request_id")
    params: tuple[Any, ...] = ()
    if since_ts is not None:
        sql += " WHERE e.ts >= ?"
        params = (since_ts,)
    rows = await store.query(sql + " ORDER BY e.ts, e.request_id", params)
    content = schema.COLUMN_NAMES.index("content")
    return [Record(schema.from_row(tuple(r[:-1])), r[content], None if r[-1] is None else float(r[-1]))
            for r in rows]


class NotAUsageStore(ValueError):
    pass


def _check_store(cfg: UsageConfig) -> None:
    """Refuse a database without the usage table (a wrong file or table prefix), before opening it
    as a store would create the tables there."""
    table = schema.events_table(cfg.table_prefix)
    if cfg.database_url:
        with psycopg.connect(cfg.database_url, connect_timeout=max(1, int(cfg.connect_timeout_s))) as conn:
            row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            found = row is not None and row[0] is not None
    else:
        with contextlib.closing(sqlite3.connect(f"file:{cfg.sqlite_path}?mode=ro", uri=True)) as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                 (table,)).fetchone() is not None
    if not found:
        raise NotAUsageStore(f"no table {table} there: not a tierroute usage store, or another --table-prefix")


def load_usage(cfg: UsageConfig, catalog: Catalog | None, since_s: float | None = None) -> UsageData:
    """Open the store ``cfg`` names (migrating it to the current schema, as the gateway would), read
    it and build the routing data. ``NotAUsageStore`` when it has no usage table; store errors
    propagate."""
    _check_store(cfg)

    async def run() -> list[Record]:
        store = build_store(cfg)
        try:
            await store.open()
            return await read_records(store, None if since_s is None else time.time() - since_s)
        finally:
            await store.close()

    return build_usage_data(asyncio.run(run()), catalog)


def combine(a: RoutingData, b: RoutingData) -> RoutingData:
    """Rows of both, over the union of their models (NaN where a row lacks one)."""
    models = list(dict.fromkeys([*a.models, *b.models]))

    def widen(d: RoutingData, m: np.ndarray) -> np.ndarray:
        out = np.full((len(d), len(models)), np.nan)
        out[:, [models.index(x) for x in d.models]] = m
        return out

    return RoutingData(a.texts + b.texts, a.sources + b.sources, models,
                       np.vstack([widen(a, a.scores), widen(b, b.scores)]),
                       np.vstack([widen(a, a.costs), widen(b, b.costs)]), a.labels + b.labels)
