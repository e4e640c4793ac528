"""Whether the simulated model calls a tool, which one, and with what arguments.

A real model does not call a tool for "hi", so with ``tool_choice`` auto a tool is called only when
the last user turn names an offered tool as a word (case-insensitive), or asks for the call
outright with the directive ``[[sim:call:NAME {"json": "args"}]]``, which makes the model call
NAME (if it is offered) with exactly those arguments; the JSON may hold spaces, quotes and
brackets, it is read up to the ``]]`` that follows it, and ``[[sim:call:NAME]]`` calls with ``{}``.
That lets a test drive a coding agent's tool loop step by step.

Once the conversation carries tool results after the last user turn, the model answers in text
(``answer.py`` quotes the results verbatim). Several call directives are made as parallel calls in
one answer; when the request disables parallel tool calls, they are made one per turn, the next
one each time another result comes back. A forced ``tool_choice`` (required / a named tool) always
calls, as the vendors do.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tierroute.sim.schema import instance

if TYPE_CHECKING:
    from tierroute.sim.answer import Prompt

_CALL = "[[sim:call:"
_NAME = re.compile(r"[^\s\[\]{}]+")
_JSON = json.JSONDecoder()


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text; a custom (freeform) tool's raw input text
    custom: bool = False  # an OpenAI Responses custom tool: ``input`` text, not JSON arguments


Directive = tuple[str, "dict[str, Any] | None", int, int, str]


def call_directives(text: str) -> list[Directive]:
    """Each well-formed ``[[sim:call:NAME {...}]]`` in ``text``: (name, arguments, start, end, the
    arguments' JSON text as written)."""
    out: list[Directive] = []
    at = text.find(_CALL)
    while at >= 0:
        found = _one_directive(text, at)
        if found is None:
            at = text.find(_CALL, at + 1)
            continue
        out.append(found)
        at = text.find(_CALL, found[3])
    return out


def _one_directive(text: str, at: int) -> Directive | None:
    m = _NAME.match(text, at + len(_CALL))
    if m is None:
        return None
    k = _skip_spaces(text, m.end())
    args: Any = None
    raw = "{}"
    if text.startswith("{", k):
        try:
            args, end = _JSON.raw_decode(text, k)
        except ValueError:
            return None
        raw, k = text[k:end], _skip_spaces(text, end)
    if not text.startswith("]]", k):
        return None
    return m.group(), args, at, k + 2, raw


def _skip_spaces(text: str, k: int) -> int:
    while k < len(text) and text[k].isspace():
        k += 1
    return k


def strip_calls(text: str) -> str:
    spans = call_directives(text) if _CALL in text else []
    for _, _, start, end, _ in reversed(spans):
        text = text[:start] + text[end:]
    return text


def names_a_tool(question: str, names: list[str]) -> str | None:
    """The first offered tool whose name appears in ``question`` as a whole word."""
    for name in names:
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", question, re.IGNORECASE):
            return name
    return None


def choose(prompt: Prompt, h: int, fill: str, notool: bool) -> list[ToolCall]:
    """The calls the model makes for ``prompt`` (empty: it answers in text)."""
    if not prompt.tools or notool or prompt.tool_choice == "none":
        return []
    names = [name for name, _ in prompt.tools]
    directed: list[tuple[str, str | None]] = [
        (n, raw) for n, _, _, _, raw in call_directives(prompt.question) if n in names
    ]
    auto = prompt.tool_choice == "auto"
    if prompt.tool_choice in names:
        directed = [c for c in directed if c[0] == prompt.tool_choice] or [(prompt.tool_choice, None)]
    elif not directed:
        named = names_a_tool(strip_calls(prompt.question), names)
        if named is None and auto:
            return []
        directed = [(named or names[0], None)]
    done = prompt.results_count()
    if not prompt.parallel_tools:
        if done >= len(directed) and auto:
            return []
        directed = [directed[min(done, len(directed) - 1)]]
    elif done and auto:
        return []
    schemas = dict(prompt.tools)
    calls = []
    for k, (name, raw) in enumerate(directed):
        custom = name in prompt.custom_tools
        if custom:
            text = _custom_input(raw, fill)
        else:  # the directive's JSON exactly as written, else a value that fits the schema
            text = raw or json.dumps(instance(schemas[name] or _EMPTY, fill or "sim"))
        calls.append(ToolCall(f"{(h + k) % 2**64:016x}{len(prompt.text):08x}", name, text, custom))
    return calls


_EMPTY: dict[str, Any] = {"type": "object", "properties": {}}


def _custom_input(raw: str | None, fill: str) -> str:
    """A freeform tool's input: ``{"input": "text"}`` gives the text, other JSON is sent as it is."""
    if raw is None:
        return fill or "sim"
    args = json.loads(raw)
    if set(args) == {"input"} and isinstance(args["input"], str):
        return str(args["input"])
    return raw
