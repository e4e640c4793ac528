"""Infer a request's task type and complexity from the request alone.

Two layers. ``classify_fast`` reads cheap features (images, tools, JSON mode, code fences, keyword
families, length, turns) in well under a millisecond. ``LearnedClassifier`` embeds the prompt with
the shared local embedder and compares it with labelled example prompts (nearest centroids); it is
consulted only when the fast layer is unsure. Explicit caller hints always win over both.
"""

from __future__ import annotations

import asyncio
import re

import numpy as np

from tierroute.embedding import Embedder, embed_async
from tierroute.routing.prototypes import PROTOTYPES
from tierroute.routing.tokens import estimate_prompt_tokens
from tierroute.types import TASK_TYPES, ChatRequest, Classification, RouteHints

# Keyword families. Each hit adds its weight to the task's score; the best score wins.
_FAMILIES: dict[str, list[tuple[re.Pattern[str], float, str]]] = {
    "documentation": [
        (re.compile(r"\bdocstrings?\b|\bjsdoc\b|\bjavadoc\b|\breadme\b|\bchangelog\b"), 5.0, "docs keyword"),
        (re.compile(r"\b(document(ation)?|docs)\b"), 1.5, "mentions documentation"),
        (re.compile(r"\b(add|write)\b[^.\n]{0,30}\bcomments?\b|\bapi reference\b|\busage guide\b"), 2.0,
         "asks for comments or reference text"),
        (re.compile(r"\bsummari[sz]e\b|\bexplain what (this|the) (code|function)\b"), 1.2, "summarise/explain"),
    ],
    "coding": [
        (re.compile(r"```"), 2.0, "code block"),
        # Possessive and bounded: a keyword with no ( : { = soon after it fails at once, instead of
        # backtracking over the rest of the line (quadratic on a long one-line prompt).
        (re.compile(r"\b(def|class|function|return|import|const|let|var|public|static|void)\b[^\n(:{=]{0,160}+[(:{=]"),
         1.5, "code syntax"),
        (re.compile(r"\b(write|implement|fix|debug|refactor|optimi[sz]e)\b[^.\n]{0,40}"
                    r"\b(function|method|class|script|code|bug|test|query|regex|endpoint)\b"), 2.5, "coding request"),
        (re.compile(r"\b(python|javascript|typescript|java|rust|golang|c\+\+|sql|bash|kotlin|swift|ruby|php)\b"),
         1.2, "names a programming language"),
        (re.compile(r"\b(traceback|stack trace|exception|segfault|compile error|unit tests?|pytest)\b"), 1.5,
         "error or test vocabulary"),
    ],
    "architecture": [
        (re.compile(r"\b(architecture|architect|system design|design (a|the|an) (system|service|platform))\b"),
         3.0, "architecture keyword"),
        (re.compile(r"\b(microservices?|distributed|scalab\w*|high availability|event[- ]driven|sharding|"
                    r"load balanc\w*|message queue|kafka|consistency model|fault[- ]toleran\w*)\b"), 1.5,
         "distributed-systems vocabulary"),
        (re.compile(r"\b(trade-?offs?|design decisions?|migration strategy|data model|schema design)\b"), 1.2,
         "design trade-offs"),
    ],
    "reasoning": [
        (re.compile(r"\b(prove|proof|theorem|lemma|integral|derivative|equation|probability|"
                    r"solve for|how many|how much|calculate|compute the|what is the value)\b"), 2.0, "maths wording"),
        (re.compile(r"\d+\s*[-+*/^=]\s*\d+|\\frac|\\sum|\\int|[√∑∫π≤≥]"), 1.5, "arithmetic or notation"),
        (re.compile(r"\b(step by step|logic puzzle|riddle|deduce|infer)\b"), 1.0, "reasoning wording"),
    ],
}

_META = set("\\[](){}?*+|.^$")


def _split_top(pattern: str) -> list[str]:
    """The alternatives of a pattern at its outermost level."""
    out, depth, cur, esc = [], 0, "", False
    for ch in pattern:
        if esc:
            cur, esc = cur + ch, False
            continue
        if ch == "\\":
            cur, esc = cur + ch, True
            continue
        depth += 1 if ch in "([" else -1 if ch in ")]" else 0
        if ch == "|" and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur]


def _literals(pattern: str) -> tuple[str, ...] | None:
    """Strings of which a match must contain one (the literal start of each alternative), or None
    when some alternative starts with a character class. A regex scan of a long prompt costs ~50 us;
    ``in`` checks for a few words cost ~1 us, so most rules are skipped without a scan."""
    lits: list[str] = []
    for alt in _split_top(pattern):
        alt = alt.removeprefix("\\b")
        if alt.startswith("(") and not alt.startswith("(?"):  # "(a|b)..." : the group's alternatives
            depth = 0
            end = next(i for i, ch in enumerate(alt)
                       if (depth := depth + (1 if ch == "(" else -1 if ch == ")" else 0)) == 0)
            subs = _split_top(alt[1:end])
        else:
            subs = [alt]
        for sub in subs:
            lit = ""
            for ch in sub:
                if ch in _META:
                    if ch in "?*{":  # the character before may be absent ("tests?", "trade-?offs")
                        lit = lit[:-1]
                    break
                lit += ch
            if not lit:
                return None
            lits.append(lit)
    return tuple(lits)


class _Rule:
    def __init__(self, rx: re.Pattern[str]) -> None:
        self.rx = rx
        self.needs = _literals(rx.pattern)

    def _may_match(self, text: str) -> bool:
        return self.needs is None or any(n in text for n in self.needs)

    def search(self, text: str) -> bool:
        return self._may_match(text) and self.rx.search(text) is not None

    def count(self, text: str) -> int:
        return len(self.rx.findall(text)) if self._may_match(text) else 0


_RULES = {task: [(_Rule(rx), w, why) for rx, w, why in fams] for task, fams in _FAMILIES.items()}

_HARD = _Rule(re.compile(r"\b(complex|production|at scale|concurren\w*|optimi[sz]\w*|edge cases?|rigorous\w*|"
                   r"trade-?offs?|multi-?step|end-to-end|security|performance|prove|thread-?safe|distributed)\b"))
_EASY = _Rule(re.compile(r"\b(simple|quick(ly)?|brief(ly)?|short|just|one[- ]liner|hello|hi|thanks|tl;?dr|basic)\b"))
# What each task usually needs, added to the complexity score.
_TASK_CX = {"architecture": 0.3, "reasoning": 0.15, "coding": 0.05, "documentation": -0.05}
_SCAN = 6000  # characters of a long prompt read by the keyword layer (its head and its tail)


def _text(req: ChatRequest) -> str:
    parts: list[str] = []
    for m in req.messages:
        if m.role in ("user", "system", "developer"):
            t = m.text()
            if t:
                parts.append(t)
    text = "\n".join(parts)
    if len(text) > _SCAN:
        text = text[: _SCAN // 2] + "\n" + text[-_SCAN // 2:]
    return text.lower()


def prompt_text(req: ChatRequest) -> str:
    """The text a learned model sees: the last user turn, with the system prompt as context."""
    last = next((m.text() for m in reversed(req.messages) if m.role == "user"), "")
    return last or "\n".join(m.text() for m in req.messages)


def _clip(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def classify_fast(req: ChatRequest, hints: RouteHints | None = None, *, tokens: int | None = None) -> Classification:
    tokens = estimate_prompt_tokens(req) if tokens is None else tokens
    reasons: list[str] = []
    text = _text(req)
    scores = dict.fromkeys(TASK_TYPES, 0.0)
    if req.has_image():
        scores["vision"] = 10.0
        reasons.append("image content")
    for task, rules in _RULES.items():
        for rule, w, why in rules:
            if rule.search(text):
                scores[task] += w
                reasons.append(f"{task}: {why}")
    if req.tools:
        scores["coding"] += 0.5
    best = max(scores, key=scores.__getitem__)
    top = scores[best]
    if top <= 0:
        task, conf = "chat", 0.5
        reasons.append("no task signal: chat")
    else:
        second = max(v for k, v in scores.items() if k != best)
        task = best
        conf = _clip(0.5 + 0.5 * (top - second) / (top + 1.0))

    # Complexity: length, turns, tools, hard/easy wording, and what the task usually needs.
    cx = 0.15 + 0.12 * float(np.log10(1 + tokens / 50))
    hard = _HARD.count(text)
    easy = _EASY.count(text)
    cx += 0.12 * min(hard, 4) - 0.1 * min(easy, 3)
    n_msgs = len(req.messages)
    if n_msgs > 6:
        cx += 0.1
        reasons.append(f"{n_msgs} messages")
    if req.tools:
        cx += 0.05 + 0.01 * min(len(req.tools), 10)
        reasons.append(f"{len(req.tools)} tools")
    cx += _TASK_CX.get(task, 0.0)
    if hard:
        reasons.append(f"{hard} hard-work words")
    if easy:
        reasons.append(f"{easy} easy-work words")
    complexity = round(_clip(cx), 3)
    c = Classification(task=task, complexity=complexity, task_confidence=round(conf, 3),
                       complexity_confidence=0.5, source="rules", reasons=reasons)
    return apply_hints(c, hints)


def apply_hints(c: Classification, hints: RouteHints | None) -> Classification:
    if hints is None:
        return c
    if hints.task is not None:
        c.task, c.task_confidence, c.source = hints.task, 1.0, "hint"
        c.reasons.insert(0, f"caller said task={hints.task}")
    if hints.complexity is not None:
        c.complexity, c.complexity_confidence = hints.complexity, 1.0
        c.reasons.insert(0, f"caller said complexity={hints.complexity}")
    return c


class LearnedClassifier:
    """Nearest-centroid task classifier over sentence embeddings of labelled example prompts."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._centroids: np.ndarray | None = None
        self._labels = [t for t in TASK_TYPES if t in PROTOTYPES]

    def _fit(self) -> np.ndarray:
        if self._centroids is None:
            cents = []
            for t in self._labels:
                v = self.embedder.embed(PROTOTYPES[t]).mean(axis=0)
                cents.append(v / np.linalg.norm(v))
            self._centroids = np.stack(cents)
        return self._centroids

    def probs(self, vec: np.ndarray) -> dict[str, float]:
        sims = self._fit() @ vec
        e = np.exp((sims - sims.max()) * 20.0)  # temperature: centroid cosines differ by a few hundredths
        p = e / e.sum()
        return {t: float(x) for t, x in zip(self._labels, p, strict=True)}

    def predict(self, text: str) -> tuple[str, float]:
        p = self.probs(self.embedder.embed([text])[0])
        best = max(p, key=p.__getitem__)
        return best, p[best]

    async def predict_async(self, text: str) -> tuple[str, float]:
        if self._centroids is None:
            await asyncio.to_thread(self._fit)
        vec = (await embed_async(self.embedder, [text]))[0]
        p = self.probs(vec)
        best = max(p, key=p.__getitem__)
        return best, p[best]


def merge(fast: Classification, learned_task: str, learned_conf: float) -> Classification:
    """Combine the layers: the learned vote replaces an unsure rules verdict (never a hint or an image)."""
    if fast.source == "hint" and fast.task_confidence >= 1.0:
        return fast
    if fast.task == "vision":
        return fast
    fast.reasons.append(f"learned: {learned_task} ({learned_conf:.2f})")
    if learned_task == fast.task:
        fast.task_confidence = round(max(fast.task_confidence, learned_conf), 3)
    elif learned_conf > fast.task_confidence:
        if fast.complexity_confidence < 1.0:  # re-base the inferred complexity on the new task
            shift = _TASK_CX.get(learned_task, 0.0) - _TASK_CX.get(fast.task, 0.0)
            fast.complexity = round(_clip(fast.complexity + shift), 3)
        fast.task, fast.task_confidence = learned_task, round(learned_conf, 3)
    if fast.source == "rules":
        fast.source = "learned"
    return fast
