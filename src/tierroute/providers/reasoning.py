"""Reasoning ("thinking") across dialects: one table per direction, all in this file.

The internal form is ``types.Reasoning``: a mode (enabled | adaptive | disabled), an effort word and/or
a token budget, and OpenAI's summary setting. Each vendor takes a different knob:

| internal                 | Anthropic ``thinking``                    | OpenAI ``reasoning_effort``  | Gemini ``thinkingConfig``     |
|--------------------------|-------------------------------------------|------------------------------|-------------------------------|
| disabled                 | ``{"type": "disabled"}``                  | ``minimal``                  | ``thinkingBudget: 0``         |
| adaptive (no budget)     | ``{"type": "adaptive"}``                  | (model default, not sent)    | ``thinkingBudget: -1``        |
| budget N                 | ``{"type": "enabled", budget_tokens: N}`` | by N (``EFFORT_BY_BUDGET``)  | ``thinkingBudget: N``         |
| effort E (no budget)     | enabled, ``BUDGET_BY_EFFORT[E]``          | E                            | ``BUDGET_BY_EFFORT[E]``       |

Anthropic needs ``1024 <= budget_tokens < max_tokens``: a budget that does not fit under the request's
output limit is cut to fit, and when not even 1024 fits, thinking is dropped (and reported). A model
whose catalog entry lacks the ``reasoning`` capability gets no reasoning parameter at all (vendors
refuse it on non-reasoning models), and that is reported in ``X-Tierroute-Dropped`` too.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec
from msgspec import UNSET

from tierroute.types import Reasoning, ThinkingPart

BUDGET_BY_EFFORT = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32000, "max": 32000}
EFFORT_BY_BUDGET = ((2048, "low"), (8192, "medium"))  # above the last bound: "high"
ANTHROPIC_MIN_BUDGET = 1024
OPENAI_EFFORTS = ("minimal", "low", "medium", "high")


def _effort_of(r: Reasoning) -> str | None:
    if r.effort:
        return r.effort if r.effort in OPENAI_EFFORTS else ("high" if r.effort in ("xhigh", "max") else "medium")
    if r.budget_tokens is not None:
        for bound, word in EFFORT_BY_BUDGET:
            if r.budget_tokens <= bound:
                return word
        return "high"
    return None


def _budget_of(r: Reasoning) -> int | None:
    if r.budget_tokens is not None:
        return r.budget_tokens
    if r.effort:
        return BUDGET_BY_EFFORT.get(r.effort, BUDGET_BY_EFFORT["medium"])
    return None


def anthropic_thinking(r: Reasoning, max_tokens: int) -> dict[str, Any] | None:
    """The ``thinking`` parameter, or None when it cannot be carried (then the caller reports it)."""
    if r.mode == "disabled":
        return {"type": "disabled"}
    budget = _budget_of(r)
    if r.mode == "adaptive" and budget is None:
        return {"type": "adaptive"}
    budget = budget if budget is not None else BUDGET_BY_EFFORT["medium"]
    budget = min(budget, max_tokens - 1)
    if budget < ANTHROPIC_MIN_BUDGET:
        return None
    return {"type": "enabled", "budget_tokens": budget}


def openai_effort(r: Reasoning) -> str | None:
    """``reasoning_effort`` for OpenAI chat (and ``reasoning.effort`` for Responses); None = not sent."""
    if r.mode == "disabled":
        return "minimal"
    return _effort_of(r)


def gemini_thinking(r: Reasoning) -> dict[str, Any]:
    if r.mode == "disabled":
        return {"thinkingBudget": 0}
    budget = _budget_of(r)
    return {"thinkingBudget": -1 if budget is None else budget, "includeThoughts": False}


def from_anthropic(thinking: Any, effort: str | None) -> Reasoning | None:
    """Anthropic's ``thinking`` (and ``output_config.effort``) as our ``Reasoning``."""
    if not isinstance(thinking, dict):
        return Reasoning(mode="adaptive", effort=effort) if effort else None
    kind = thinking.get("type")
    budget = thinking.get("budget_tokens")
    budget = budget if isinstance(budget, int) and not isinstance(budget, bool) else None
    if kind == "disabled":
        return Reasoning(mode="disabled")
    if kind == "adaptive":
        return Reasoning(mode="adaptive", effort=effort)
    return Reasoning(mode="enabled", budget_tokens=budget, effort=effort)


# Another vendor's reasoning handed to a Responses client must come back on the next turn, whichever
# model answers it. It travels as a reasoning item whose ``encrypted_content`` tierroute wrote itself:
# this prefix, then the thinking (and its signature) as base64 JSON. Clients treat it as opaque, as they
# do OpenAI's; a forward to OpenAI leaves such items out (OpenAI could not decrypt them).
CARRIED_PREFIX = "tierroute:"


def carry(t: ThinkingPart) -> str:
    doc = {"o": t.origin if t.origin is not UNSET else "", "t": t.thinking,
           "s": t.signature if t.signature is not UNSET else None, "r": t.redacted if t.redacted is not UNSET else None}
    return CARRIED_PREFIX + base64.b64encode(msgspec.json.encode(doc)).decode()


def carried(encrypted: str) -> ThinkingPart | None:
    """The reasoning ``carry`` wrapped, or None when ``encrypted`` is not ours (it is OpenAI's)."""
    if not encrypted.startswith(CARRIED_PREFIX):
        return None
    try:
        doc = msgspec.json.decode(base64.b64decode(encrypted[len(CARRIED_PREFIX):]))
    except (ValueError, msgspec.DecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("o") not in ("anthropic", "gemini"):
        return None
    return ThinkingPart(thinking=str(doc.get("t") or ""), origin=doc["o"],
                        signature=doc["s"] if isinstance(doc.get("s"), str) else UNSET,
                        redacted=doc["r"] if isinstance(doc.get("r"), str) else UNSET)
