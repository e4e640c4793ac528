"""Caller hints: ``X-Tierroute-Task`` / ``-Complexity`` / ``-Willingness-To-Pay`` headers or the
body's ``metadata`` object. Headers win over metadata; bad values are a 400 naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tierroute.errors import InvalidRequest
from tierroute.types import TASK_TYPES, RouteHints

_WORDS = {"low": 0.2, "medium": 0.5, "high": 0.85}
_TASK_ALIASES = {"math": "reasoning", "maths": "reasoning", "design": "architecture", "docs": "documentation",
                 "image": "vision", "code": "coding", "other": "chat"}


def _task(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be one of {', '.join(TASK_TYPES)}", param=field)
    t = value.strip().lower()
    t = _TASK_ALIASES.get(t, t)
    if t not in TASK_TYPES:
        raise InvalidRequest(f"{field} '{value}' is not a task type: use one of {', '.join(TASK_TYPES)}",
                             param=field)
    return t


def _share(value: Any, field: str, words: bool) -> float:
    if isinstance(value, str):
        v = value.strip().lower()
        if words and v in _WORDS:
            return _WORDS[v]
        try:
            value = float(v)
        except ValueError:
            allowed = "a number in [0, 1] or low|medium|high" if words else "a number in [0, 1]"
            raise InvalidRequest(f"{field} '{value}' is not {allowed}", param=field) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        allowed = "a number in [0, 1] or low|medium|high" if words else "a number in [0, 1]"
        raise InvalidRequest(f"{field} must be {allowed}", param=field)
    return float(value)


def header_text(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value as text, None when absent or empty. aiohttp keeps bytes that are not UTF-8
    as lone surrogates (and a latin-1 client sends such bytes), which would fail later when the value
    is encoded into an error or a log line: they are a 400 naming the header here instead."""
    v = headers.get(name)
    if v is None:
        v = headers.get(name.lower())
    if v is None or v == "":
        return None
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"The {name} header is not valid UTF-8 text; send one of its documented values "
                             "in ASCII.", param=name, code="invalid_header") from None
    return v


def parse_hints(headers: Mapping[str, str], metadata: dict | None) -> RouteHints:
    def header(name: str) -> str | None:
        return header_text(headers, name)

    hints = RouteHints()
    md = metadata or {}
    if not isinstance(md, dict):
        raise InvalidRequest("metadata must be an object", param="metadata")
    task = header("X-Tierroute-Task")
    if task is not None:
        hints.task = _task(task, "X-Tierroute-Task")
    elif md.get("task") is not None:
        hints.task = _task(md["task"], "metadata.task")
    cx = header("X-Tierroute-Complexity")
    if cx is not None:
        hints.complexity = _share(cx, "X-Tierroute-Complexity", True)
    elif md.get("complexity") is not None:
        hints.complexity = _share(md["complexity"], "metadata.complexity", True)
    wtp = header("X-Tierroute-Willingness-To-Pay")
    if wtp is not None:
        hints.willingness_to_pay = _share(wtp, "X-Tierroute-Willingness-To-Pay", False)
    elif md.get("willingness_to_pay") is not None:
        hints.willingness_to_pay = _share(md["willingness_to_pay"], "metadata.willingness_to_pay", False)
    return hints
