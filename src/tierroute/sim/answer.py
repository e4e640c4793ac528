"""What the simulated model says: deterministic answers from (config seed, model, prompt).

Each dialect turns its request into a ``Prompt`` (the same for all three) and renders the
``Choice`` list that ``generate`` returns in its own wire format.

Answers read ``[model] answer to: <start of the last user turn> ...`` followed by filler words whose
count depends on the prompt; a prompt that mentions python / function / code / implement gets a
fenced ```python block that parses; JSON mode gets valid JSON (a minimal instance of the schema
when one is given); a tool gets called only when the last user turn names an offered tool or
asks for it with ``[[sim:call:NAME {...}]]`` (see ``tools.py``), and once results come back the
answer quotes them verbatim (``The tool returned: ...``). A request that asks for reasoning
(Anthropic thinking, OpenAI reasoning effort) gets a thinking text first, whose tokens count as
output and against max tokens. Stop sequences and max tokens cut the text. Tokens are
``ceil(chars / 4)``; an image counts ``IMAGE_TOKENS``.

Directives in the prompt text force an outcome: ``[[sim:NAME]]``, ``[[sim:error=KIND]]``, each
optionally scoped to one model (an ``fnmatch`` pattern) with ``@model``; see ``Directives``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from tierroute.sim.config import FAULT_KINDS
from tierroute.sim.schema import instance
from tierroute.sim.tools import ToolCall, choose, strip_calls

__all__ = ["Choice", "Directives", "Prompt", "ToolCall", "generate", "parse_directives", "tokens"]

REFUSAL = "I'm sorry, but I can't help with that."
IMAGE_TOKENS = 85
ERROR_KINDS = frozenset((*FAULT_KINDS, "content_filter", "context_length"))

_DIRECTIVE = re.compile(r"\[\[sim:([a-z_]+)(?:=([A-Za-z0-9_]+))?(?:@([^\]\s]+))?\]\]")
_CODE_WORDS = re.compile(r"python|function|code|implement", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_SENTENCES = (
    "The short answer is that it depends on the details.",
    "Here is how I would think about it, step by step.",
    "First, look at what the question actually asks for.",
    "Then weigh the options against each other.",
    "The simplest approach is usually the right place to start.",
    "It helps to check the result against a small example.",
    "There are a few trade-offs worth keeping in mind.",
    "In most cases the default choice works well enough.",
    "If the input is large, the cost grows with its size.",
    "A careful reader will want to verify each step.",
    "This keeps the solution easy to test and to change.",
    "The main risk is an edge case that nobody tried.",
    "Taken together, these points give a clear picture.",
    "In summary, start small and measure before optimising.",
)


def tokens(text: str) -> int:
    return -(-len(text) // 4)


@dataclass(frozen=True, slots=True)
class Directives:
    refuse: bool = False  # answer with REFUSAL
    empty: bool = False  # answer with empty content
    badjson: bool = False  # invalid JSON, even in JSON mode
    badcode: bool = False  # a python block that does not parse
    long: bool = False  # run into the max-tokens limit
    notool: bool = False  # answer in text even when tools are offered
    error: str | None = None  # one of ERROR_KINDS


NO_DIRECTIVES = Directives()


def parse_directives(text: str, model: str) -> Directives:
    if "[[sim:" not in text:
        return NO_DIRECTIVES
    flags: dict[str, Any] = {}
    for name, value, scope in _DIRECTIVE.findall(text):
        if scope and not fnmatchcase(model, scope):
            continue
        if name == "error" and value in ERROR_KINDS:
            flags.setdefault("error", value)
        elif name in ("refuse", "empty", "badjson", "badcode", "long", "notool") and not value:
            flags[name] = True
    return Directives(**flags) if flags else NO_DIRECTIVES


def strip_directives(text: str) -> str:
    return strip_calls(_DIRECTIVE.sub("", text)) if "[[sim:" in text else text


@dataclass(slots=True)
class Prompt:
    model: str
    text: str  # every text of the prompt (system and all turns), joined
    question: str  # the last user turn's text
    images: int = 0
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, parameters schema)
    tool_choice: str = "auto"  # auto | none | required | the name of one tool
    tool_result: str | None = None  # the tool results after the last user turn, joined, if any
    tool_results: int = 0  # how many results that is (0 with a tool_result set counts as 1)
    parallel_tools: bool = True  # the request allows several tool calls in one answer
    custom_tools: frozenset[str] = frozenset()  # OpenAI Responses freeform tools (input text)
    reasoning: str | None = None  # thinking asked: an effort level, or "enabled" / "adaptive"
    thinking_budget: int | None = None  # Anthropic thinking.budget_tokens
    hidden_thinking: bool = False  # Anthropic display "omitted": a signature, no thinking text
    cache_marks: tuple[tuple[int, str], ...] = ()  # Anthropic cache_control: (end in text, ttl)
    cache_salt: str = ""  # what else the cached prefix depends on (the tools)
    auto_cache: bool = False  # OpenAI: automatic prefix caching
    echo: dict[str, Any] = field(default_factory=dict)  # request fields the answer repeats (Responses)
    json_mode: bool = False
    schema: dict[str, Any] | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    seed: int | None = None  # the request's own seed, mixed into the answer

    def prompt_tokens(self) -> int:
        return tokens(self.text) + IMAGE_TOKENS * self.images

    def results_count(self) -> int:
        return self.tool_results or (1 if self.tool_result is not None else 0)


@dataclass(slots=True)
class Choice:
    text: str
    finish: str  # stop | length | stop_sequence | tool_calls | content_filter
    tokens: int
    tool_calls: list[ToolCall] = field(default_factory=list)
    stop_sequence: str | None = None
    refusal: bool = False
    thinking: str = ""  # the reasoning before the answer (Anthropic thinking, OpenAI summary)
    thinking_tokens: int = 0  # its tokens: output tokens on top of ``tokens``


def generate(prompt: Prompt, seed: int, max_output_tokens: int, d: Directives) -> list[Choice]:
    if d.error == "content_filter":
        return [Choice("", "content_filter", 0) for _ in range(prompt.n)]
    limit = prompt.max_tokens or max_output_tokens
    return [_one(prompt, _hash(seed, prompt, i), limit, d) for i in range(max(1, prompt.n))]


def _hash(seed: int, prompt: Prompt, index: int) -> int:
    key = f"{seed}\x00{prompt.model}\x00{prompt.seed}\x00{index}\x00{prompt.text}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def _one(prompt: Prompt, h: int, limit: int, d: Directives) -> Choice:
    thinking = _thinking(prompt, h, limit)
    spent = tokens(thinking)
    if thinking and spent >= limit:  # the budget ran out while thinking: no answer at all
        return Choice("", "length", 0, thinking=thinking, thinking_tokens=spent)
    choice = _visible(prompt, h, limit - spent, d)
    choice.thinking, choice.thinking_tokens = thinking, spent
    return choice


def _visible(prompt: Prompt, h: int, limit: int, d: Directives) -> Choice:
    if d.refuse:
        return _finish(REFUSAL, limit, prompt.stop, refusal=True)
    if d.empty:
        return Choice("", "stop", 0)
    calls = choose(prompt, h, _clip(_echo(prompt), 40), d.notool)
    if calls:
        used = sum(tokens(c.name + c.arguments) for c in calls)
        return Choice("", "tool_calls", used, tool_calls=calls)

    echo = _echo(prompt)
    head = f"[{prompt.model}] answer to: {echo}"
    if prompt.tool_result is not None:
        head += f"\n\nThe tool returned: {prompt.tool_result}"
    target = 16 + h % 48 + min(prompt.prompt_tokens() // 10, 48)
    body = _filler(h, target * 4)
    if d.long:
        body = _filler(h, (limit + 16) * 4)

    if prompt.json_mode:
        if d.badjson:
            text = '{"answer": "' + head.replace('"', "'") + " " + body
        elif prompt.schema is not None:
            text = json.dumps(instance(prompt.schema, _clip(echo, 40) or "sim"))
        else:
            text = json.dumps({"model": prompt.model, "answer": f"{head} {body}"})
    elif d.badcode:
        text = f"{head}\n\n```python\ndef solve(data:\n    return [item for item in data\n```\n"
    elif _CODE_WORDS.search(strip_directives(prompt.question)):
        text = _code(head, body)
    else:
        text = f"{head}\n\n{body}"
    return _finish(text, limit, prompt.stop)


def _finish(text: str, limit: int, stop: tuple[str, ...], refusal: bool = False) -> Choice:
    cut, hit = len(text), None
    for s in stop:
        at = text.find(s) if s else -1
        if 0 <= at < cut:
            cut, hit = at, s
    if tokens(text[:cut]) > limit:
        text = text[: limit * 4]
        return Choice(text, "length", tokens(text), refusal=refusal)
    if hit is not None:
        text = text[:cut]
        return Choice(text, "stop_sequence", tokens(text), stop_sequence=hit, refusal=refusal)
    return Choice(text, "stop", tokens(text), refusal=refusal)


_EFFORT = {"none": 0, "minimal": 0, "low": 1, "medium": 2, "high": 3, "xhigh": 4, "max": 5}


def _thinking(prompt: Prompt, h: int, limit: int) -> str:
    """Deterministic reasoning text, longer for a higher effort, never over the thinking budget."""
    scale = _EFFORT.get(prompt.reasoning or "none", 2)
    if not scale:
        return ""
    want = (12 + h % 24) * scale
    if prompt.thinking_budget:
        want = min(want, prompt.thinking_budget)
    text = f"The user asks: {_echo(prompt) or 'something'}. Let me work out what they need. "
    text = (text + _filler(h ^ 0x5EED, want * 4))[: max(want, 1) * 4].rstrip()
    return text[: limit * 4] if tokens(text) > limit else text


def _echo(prompt: Prompt) -> str:
    return _clip(_SPACES.sub(" ", strip_directives(prompt.question)).strip(), 60)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n].rstrip() + " ..."


def _code(head: str, body: str) -> str:
    words = body.split()
    lines = [" ".join(words[i : i + 10]) for i in range(0, len(words), 10)] or ["solution"]
    doc = "\n    ".join(lines)
    return (
        f'{head}\n\n```python\ndef solve(data):\n    """{doc}\n    """\n'
        "    result = []\n    for item in data:\n        result.append(item)\n    return result\n```\n"
    )


@lru_cache(maxsize=8192)
def _filler(h: int, chars: int) -> str:
    """About ``chars`` characters of plain sentences, picked by a RNG seeded with ``h``."""
    rng = random.Random(h)
    out: list[str] = []
    size = 0
    while size < chars:
        sentence = rng.choice(_SENTENCES)
        out.append(sentence)
        size += len(sentence) + 1
    return " ".join(out)
