"""Cascade checks: is a cheap model's answer good enough, or must the request escalate?

``check_answer`` runs the built-in checks (microseconds to a millisecond): an empty answer, a
refusal, an answer cut off by the token limit, invalid JSON when JSON was asked for, and code
that does not parse for a coding task. ``judge_answer`` is the optional, async judge-model check.
Each returns the reason to escalate, or None.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Awaitable, Callable

from tierroute.types import ChatRequest, ChatResponse, Message

_REFUSAL = re.compile(
    r"^\s*(i'?m sorry,? but |sorry,? (but )?)?(i|we) (can(no|')t|am unable to|'m unable to|won'?t|am not able to)"
    r" (help|assist|comply|provide|do that|answer|fulfil|complete|support)\b(?!\s+but\b)"
    r"|^\s*(i'?m sorry|i apologi[sz]e),? but (i|that)"
    r"|\bas an ai (language )?model,? i (can(no|')t|am unable|don'?t)", re.I)
_FENCE = re.compile(r"```([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PY_HINTS = re.compile(r"^\s*(def |class |import |from \w+ import |async def |@\w+)", re.M)


def _content(resp: ChatResponse) -> tuple[str, str | None, object]:
    if not resp.choices:
        return "", None, None
    ch = resp.choices[0]
    return ch.message.content or "", ch.finish_reason, ch.message


def _python_problem(code: str) -> str | None:
    try:
        ast.parse(code)
    except SyntaxError as e:
        return f"line {e.lineno}: {e.msg}"
    return None


def _json_problem(code: str) -> str | None:
    try:
        json.loads(code)
    except json.JSONDecodeError as e:
        return f"{e.msg} at line {e.lineno}"
    return None


def _code_problem(text: str) -> str | None:
    """Parse the answer's code: fenced blocks tagged (or looking like) Python or JSON."""
    blocks = _FENCE.findall(text)
    for lang, code in blocks:
        lang = lang.lower()
        if not code.strip():
            continue
        if lang in ("python", "py", "python3") or (lang == "" and _PY_HINTS.search(code)):
            p = _python_problem(code)
            if p:
                return f"Python code block does not parse ({p})"
        elif lang == "json":
            p = _json_problem(code)
            if p:
                return f"JSON code block does not parse ({p})"
    if text.count("```") % 2 == 1:
        return "unterminated code block"
    return None


def _strip_json_fence(text: str) -> str:
    t = text.strip()
    m = re.fullmatch(r"```(?:json)?\s*\n?(.*?)\n?```", t, re.S)
    return m.group(1) if m else t


def check_answer(req: ChatRequest, resp: ChatResponse, task: str) -> str | None:
    """The reason a cheap answer must be escalated, or None when it passes every built-in check."""
    text, finish, msg = _content(resp)
    refusal = getattr(msg, "refusal", None)
    tool_calls = getattr(msg, "tool_calls", None)
    if refusal:
        return f"refusal: {refusal[:80]}"
    if finish == "content_filter":
        return "content filtered"
    if not text.strip() and not tool_calls:
        return "empty answer"
    if finish == "length":
        return "cut off by the token limit (finish_reason length)"
    if text and _REFUSAL.search(text[:400]):
        return "refusal: " + text.strip().splitlines()[0][:80]
    if req.wants_json() and not tool_calls:
        p = _json_problem(_strip_json_fence(text))
        if p:
            return f"invalid JSON although JSON was asked for ({p})"
    if task == "coding" and text:
        p = _code_problem(text)
        if p:
            return p
    return None


JUDGE_PROMPT = ("You check another assistant's answer. Reply with exactly one word: PASS if the answer "
                "correctly and fully addresses the request, FAIL otherwise.")


def judge_request(req: ChatRequest, resp: ChatResponse, judge_model: str, max_tokens: int = 5) -> ChatRequest:
    """The request to send to a cheap judge model about ``resp``."""
    question = "\n".join(m.text() for m in req.messages if m.role == "user")[-6000:]
    answer = _content(resp)[0][-6000:]
    return ChatRequest(model=judge_model, max_tokens=max_tokens, temperature=0, messages=[
        Message(role="system", content=JUDGE_PROMPT),
        Message(role="user", content=f"Request:\n{question}\n\nAnswer:\n{answer}\n\nPASS or FAIL?"),
    ])


async def judge_answer(req: ChatRequest, resp: ChatResponse, judge_model: str,
                       send: Callable[[ChatRequest], Awaitable[ChatResponse]], max_tokens: int = 5) -> str | None:
    """Ask a judge model (through ``send``, the caller's execution path); a FAIL verdict escalates.
    A judge that errors or answers something else never blocks the answer."""
    try:
        verdict = await send(judge_request(req, resp, judge_model, max_tokens))
    except Exception:  # the judge is advisory: its failure must not fail the request
        return None
    text = _content(verdict)[0].strip().upper()
    return f"judge {judge_model} said FAIL" if text.startswith("FAIL") else None
