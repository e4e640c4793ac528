"""A seeded, deterministic agent-session workload, shaped like Claude Code's traffic.

A session is a list of turns; each turn is one ``POST /v1/messages`` request body, sent in order.
Every session has

- a stable prefix of 20-60k tokens: a Claude Code-like system prompt (instructions, the project's
  CLAUDE.md, a directory listing, git status) in two ``system`` text blocks, plus ~15 tool
  definitions (``tools``);
- a growing history: user asks (hard or easy), the assistant calls tools (Read, Bash, Grep, ...),
  the tool results come back (file contents, test logs, grep output, diffs: 1-8k tokens each), the
  assistant answers, the user asks the next thing. When the conversation passes a context budget
  it is compacted (a summary replaces the old turns), as Claude Code does near its window;
- cache markers as Claude Code places them: on both system blocks, on the last block of the last
  message and on the last block of the user message before it (where the previous request's
  breakpoint was), so at most 4; the ``X-Claude-Code-Session-Id`` header and ``metadata.user_id``
  ending in ``_session_<uuid>``.

The assistant turns in the history are the workload's own (deterministic), not the answers the
gateway returned, so every configuration replays byte-identical requests whatever model answered.

Sizes are in tokens at ~4 characters a token (what the simulator counts).
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHARS_PER_TOKEN = 4
DEFAULT_MODEL = "claude-sonnet-4-5"
EPHEMERAL = {"type": "ephemeral"}


@dataclass
class Turn:
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/v1/messages"
    label: str = "easy"           # hard | easy | "" (unlabelled replay)
    index: int = 0                # position in its session (0 = first)

    def approx_tokens(self) -> int:
        return len(json.dumps(self.body)) // CHARS_PER_TOKEN


@dataclass
class Session:
    id: str
    turns: list[Turn]
    prefix_tokens: int = 0


# ---------------------------------------------------------------------------------------- words

_IDENT = ("request", "router", "plan", "cache", "session", "usage", "event", "store", "config", "quota",
          "deployment", "provider", "adapter", "stream", "chunk", "token", "budget", "limit", "window",
          "health", "cooldown", "attempt", "fallback", "catalog", "model", "price", "tier", "rule",
          "prefix", "marker", "entry", "record", "batch", "queue", "worker", "handler", "response",
          "payload", "schema", "column", "index", "result", "error", "retry", "backoff", "client")
_VERBS = ("load", "parse", "build", "resolve", "send", "record", "flush", "merge", "check", "select",
          "rank", "price", "encode", "decode", "validate", "refresh", "expire", "acquire", "release")
_PROSE = ("the", "a", "this", "each", "every", "request", "gateway", "provider", "model", "answer",
          "cache", "is", "are", "keeps", "sends", "reads", "writes", "returns", "when", "if", "then",
          "with", "without", "before", "after", "one", "only", "never", "always", "prompt", "tokens",
          "session", "routing", "quota", "cost", "price", "usage", "stream", "tool", "test", "file",
          "module", "stage", "plain", "data", "object", "config", "user", "agent", "fast", "small")
_DIRS = ("api", "routing", "providers", "execution", "limits", "cache", "usage", "sim", "config", "cli")


def _ident(r: random.Random) -> str:
    return f"{r.choice(_IDENT)}_{r.choice(_IDENT)}" if r.random() < 0.6 else r.choice(_IDENT)


def _sentence(r: random.Random, lo: int = 8, hi: int = 22) -> str:
    words = [r.choice(_PROSE) for _ in range(r.randint(lo, hi))]
    if r.random() < 0.4:
        words.insert(r.randrange(len(words)), f"`{_ident(r)}`")
    return " ".join(words).capitalize() + "."


def _paragraph(r: random.Random, n: int | None = None) -> str:
    return " ".join(_sentence(r) for _ in range(n or r.randint(2, 6)))


def _fill(r: random.Random, tokens: int, make) -> str:
    """Pieces from ``make(r)`` joined until the text is ``tokens`` long (then cut there)."""
    want = tokens * CHARS_PER_TOKEN
    parts, size = [], 0
    while size < want:
        p = make(r)
        parts.append(p)
        size += len(p) + 1
    return "\n".join(parts)[:want]


def _python_file(r: random.Random) -> str:
    mod = r.choice(_DIRS)
    lines = [f'"""{_sentence(r)}"""', "", "from __future__ import annotations", "",
             "import asyncio", "import time", f"from tierroute.{mod} import {_ident(r)}", ""]
    for _ in range(r.randint(2, 5)):
        cls = "".join(w.capitalize() for w in _ident(r).split("_"))
        lines += [f"class {cls}:", f'    """{_sentence(r)}"""', ""]
        for _ in range(r.randint(2, 5)):
            fn, a, b = f"{r.choice(_VERBS)}_{r.choice(_IDENT)}", _ident(r), _ident(r)
            lines += [f"    def {fn}(self, {a}: str, {b}: int = {r.randint(0, 100)}) -> dict[str, int]:",
                      f"        # {_sentence(r, 5, 12)}",
                      f"        if not {a}:",
                      f"            raise ValueError(f\"{fn}: empty {a} {{{b}}}\")",
                      f"        out = {{k: len(v) for k, v in self.{_ident(r)}.items() if v}}",
                      f"        out[{a}] = {b} * {r.randint(2, 9)}",
                      "        return out", ""]
    return "\n".join(lines)


def _test_log(r: random.Random) -> str:
    lines = ["============================= test session starts ==============================",
             "platform linux -- Python 3.12.3, pytest-8.3.4, pluggy-1.5.0",
             f"collected {r.randint(40, 900)} items", ""]
    for _ in range(r.randint(6, 20)):
        d = r.choice(_DIRS)
        res = "".join(r.choice("......F.s") for _ in range(r.randint(10, 60)))
        lines.append(f"tests/{d}/test_{_ident(r)}.py {res} [{r.randint(1, 99):3d}%]")
    lines += ["", "=================================== FAILURES ===================================",
              f"____________________ test_{_ident(r)} ____________________", ""]
    for _ in range(r.randint(2, 6)):
        lines += [f"    def test_{_ident(r)}({_ident(r)}):",
                  f">       assert result.{_ident(r)} == {r.randint(0, 500)}",
                  f"E       AssertionError: assert {r.randint(0, 500)} == {r.randint(0, 500)}",
                  f"E        +  where {r.randint(0, 500)} = <{_ident(r)} object at 0x7f{r.randrange(16**8):08x}>",
                  f"src/tierroute/{r.choice(_DIRS)}/{_ident(r)}.py:{r.randint(10, 900)}: AssertionError", ""]
    lines.append(f"FAILED tests/{r.choice(_DIRS)}/test_{_ident(r)}.py::test_{_ident(r)} - AssertionError")
    return "\n".join(lines)


def _grep_out(r: random.Random) -> str:
    return "\n".join(
        f"src/tierroute/{r.choice(_DIRS)}/{_ident(r)}.py:{r.randint(1, 900)}:    "
        f"{_ident(r)} = {r.choice(_VERBS)}_{_ident(r)}(self.{_ident(r)}, {_ident(r)})"
        for _ in range(r.randint(10, 40)))


def _diff(r: random.Random) -> str:
    f = f"src/tierroute/{r.choice(_DIRS)}/{_ident(r)}.py"
    lines = [f"diff --git a/{f} b/{f}", f"--- a/{f}", f"+++ b/{f}", f"@@ -{r.randint(1, 400)},12 +{r.randint(1, 400)},14 @@"]
    for _ in range(r.randint(8, 30)):
        sign = r.choice("  +-")
        lines.append(f"{sign}        {_ident(r)} = self.{r.choice(_VERBS)}_{_ident(r)}({_ident(r)})")
    return "\n".join(lines)


_OUTPUTS = {"Read": _python_file, "Bash": _test_log, "Grep": _grep_out, "Bash:git diff": _diff}

# ------------------------------------------------------------------------------------- prompts

_HARD = (
    "Design the architecture for sharing session affinity between gateway instances through Redis. "
    "Weigh the trade-offs of consistency against latency, explain the failure modes and propose a migration plan.",
    "Why does the stream relay deadlock when the upstream closes early while the usage queue is full? "
    "Reason step by step through the concurrency, prove which lock ordering is safe and justify the fix.",
    "Refactor the execution layer into a state machine so fallback, retry and cascade escalation compose. "
    "Analyze the invariants, design the module boundaries and explain the trade-offs of each option.",
    "Derive the expected cost of routing a 40k-token session to a cold cheap model versus a warm premium one, "
    "prove when switching pays off and design the algorithm that decides it, with its complexity.",
    "We see intermittent double-charging in the usage records under load. Investigate the root cause across "
    "the batching writer, the spill directory and the retry path; reason about the race and design a fix.",
    "Plan a distributed rate limiter that stays correct across three regions with clock skew. Compare "
    "token-bucket and sliding-window designs, analyze the consistency trade-offs and justify the choice.",
    "Architect a plugin system for provider adapters that keeps dialect translation lossless. Evaluate the "
    "design alternatives, the security boundary and the performance implications, step by step.",
)
_EASY = (
    "Add a docstring to `{fn}` explaining its arguments.",
    "Fix the typo in the README section about configuration.",
    "Rename the variable `{a}` to `{b}` in this file.",
    "Write a short docstring for the `{fn}` helper.",
    "Update the changelog with a one-line entry for this fix.",
    "Add a comment above `{fn}` saying what it returns.",
    "Format this list in the docs as a markdown table.",
    "Summarize what this file does in two sentences for the docs.",
)
_TOOLS_USED = ("Read", "Read", "Bash", "Grep", "Bash:git diff")


def _ask(r: random.Random, hard: bool) -> str:
    if hard:
        return r.choice(_HARD) + " " + _sentence(r)
    return r.choice(_EASY).format(fn=f"{r.choice(_VERBS)}_{r.choice(_IDENT)}", a=_ident(r), b=_ident(r))


# ------------------------------------------------------------------------------------- prefix

_INTRO = ("You are Claude Code, Anthropic's official CLI for Claude.\n"
          "You are an interactive CLI tool that helps users with software engineering tasks.")


def _system_prompt(r: random.Random, tokens: int) -> str:
    head = ["# Tone and style", _paragraph(r, 6), "# Doing tasks", _paragraph(r, 8),
            "# Tool usage policy", _paragraph(r, 6), "# Code references", _paragraph(r, 3),
            "<env>", "Working directory: /home/dev/tierroute", "Is directory a git repo: Yes",
            "Platform: linux", "</env>", "", "# CLAUDE.md (project instructions)"]

    def section(r: random.Random) -> str:
        kind = r.random()
        if kind < 0.45:
            return f"## {_ident(r).replace('_', ' ').title()}\n{_paragraph(r)}"
        if kind < 0.75:
            return "\n".join(f"src/tierroute/{r.choice(_DIRS)}/{_ident(r)}.py" for _ in range(r.randint(8, 25)))
        if kind < 0.9:
            return "gitStatus:\n" + "\n".join(f" M src/tierroute/{r.choice(_DIRS)}/{_ident(r)}.py"
                                              for _ in range(r.randint(2, 8)))
        return "```python\n" + _python_file(r)[:1500] + "\n```"

    text = "\n".join(head)
    return text + "\n" + _fill(r, max(0, tokens - len(text) // CHARS_PER_TOKEN), section)


_TOOL_NAMES = ("Task", "Bash", "Glob", "Grep", "LS", "ExitPlanMode", "Read", "Edit", "MultiEdit", "Write",
               "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell")


def _tools(r: random.Random, tokens: int) -> list[dict[str, Any]]:
    per = max(50, tokens // len(_TOOL_NAMES))
    out = []
    for name in _TOOL_NAMES:
        desc = _fill(r, per, lambda r: _paragraph(r, 3))
        props = {_ident(r): {"type": r.choice(("string", "integer", "boolean")), "description": _sentence(r)}
                 for _ in range(r.randint(1, 5))}
        out.append({"name": name, "description": desc,
                    "input_schema": {"type": "object", "properties": props, "required": list(props)[:1],
                                     "additionalProperties": False,
                                     "$schema": "http://json-schema.org/draft-07/schema#"}})
    return out


# ------------------------------------------------------------------------------------ sessions

def _mark_last(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [dict(b) for b in content]
    out[-1]["cache_control"] = EPHEMERAL
    return out


def _request(model: str, system: list[dict[str, Any]], tools: list[dict[str, Any]],
             history: list[dict[str, Any]], user_id: str) -> dict[str, Any]:
    """The body Claude Code would send now: markers on the system blocks, the last message and the
    user message before it (the previous request's breakpoint), at most 4."""
    msgs = [{"role": m["role"], "content": list(m["content"])} for m in history]
    users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    for i in users[-2:]:
        msgs[i]["content"] = _mark_last(msgs[i]["content"])
    return {"model": model, "max_tokens": 2048, "system": system, "tools": tools, "messages": msgs,
            "metadata": {"user_id": user_id}, "stream": False}


def make_session(seed: int, n: int, *, min_turns: int = 10, max_turns: int = 60, prefix_min: int = 20_000,
                 prefix_max: int = 60_000, context_budget: int = 140_000, hard_share: float = 0.35,
                 model: str = DEFAULT_MODEL) -> Session:
    r = random.Random(f"{seed}:{n}")
    sid = str(uuid.UUID(int=r.getrandbits(128), version=4))
    user_id = "user_" + hashlib.sha256(f"{seed}:{n}".encode()).hexdigest() + f"_account__session_{sid}"
    prefix = r.randint(prefix_min, prefix_max)
    tool_tokens = r.randint(4_000, 8_000)
    system = [{"type": "text", "text": _INTRO, "cache_control": EPHEMERAL},
              {"type": "text", "text": _system_prompt(r, prefix - tool_tokens - len(_INTRO) // 4),
               "cache_control": EPHEMERAL}]
    tools = _tools(r, tool_tokens)
    headers = {"X-Claude-Code-Session-Id": sid, "anthropic-version": "2023-06-01",
               "anthropic-beta": "prompt-caching-2024-07-31", "User-Agent": "claude-cli/2.0.14 (external, cli)"}
    n_turns = r.randint(min_turns, max_turns)
    turns: list[Turn] = []
    history: list[dict[str, Any]] = []
    hist_tokens = 0

    def push(role: str, content: list[dict[str, Any]]) -> None:
        nonlocal hist_tokens
        history.append({"role": role, "content": content})
        hist_tokens += sum(len(json.dumps(b)) for b in content) // CHARS_PER_TOKEN

    while len(turns) < n_turns:
        hard = r.random() < hard_share
        label = "hard" if hard else "easy"
        if prefix + hist_tokens > context_budget:  # compaction: a summary replaces the conversation
            summary = "This session is being continued from a previous conversation that ran out of context. " \
                      "Summary:\n" + _fill(r, r.randint(1500, 3000), lambda r: _paragraph(r))
            history.clear()
            hist_tokens = 0
            push("user", [{"type": "text", "text": summary}])
            push("assistant", [{"type": "text", "text": "Understood. " + _paragraph(r, 2)}])
        push("user", [{"type": "text", "text": _ask(r, hard)}])
        turns.append(Turn(_request(model, system, tools, history, user_id), dict(headers), label=label,
                          index=len(turns)))
        for step in range(r.randint(1, 4) if hard else r.randint(0, 2)):
            if len(turns) >= n_turns:
                break
            tool = r.choice(_TOOLS_USED)
            tid = f"toolu_{hashlib.sha1(f'{sid}{len(turns)}{step}'.encode()).hexdigest()[:24]}"
            name = tool.split(":")[0]
            push("assistant", [{"type": "text", "text": _sentence(r)},
                               {"type": "tool_use", "id": tid, "name": name,
                                "input": {"file_path": f"/home/dev/tierroute/src/tierroute/{r.choice(_DIRS)}/"
                                                       f"{_ident(r)}.py"} if name == "Read"
                                else {"command": "pytest -x -q" if tool == "Bash" else tool[5:] or "rg cache"}}])
            output = _fill(r, r.randint(1_000, 8_000), _OUTPUTS[tool])
            push("user", [{"type": "tool_result", "tool_use_id": tid, "content": output}])
            turns.append(Turn(_request(model, system, tools, history, user_id), dict(headers), label=label,
                              index=len(turns)))
        push("assistant", [{"type": "text", "text": _paragraph(r, r.randint(2, 8))}])
    return Session(sid, turns, prefix)


def generate(seed: int = 7, sessions: int = 4, **kw: Any) -> list[Session]:
    return [make_session(seed, i, **kw) for i in range(sessions)]


def load_jsonl(path: str | Path) -> list[Session]:
    """A user's own requests, one JSON object a line: a request body, or ``{"body": ..., "path": ...,
    "headers": {...}, "label": "hard"|"easy"}``. ``path`` defaults to /v1/messages. Lines are grouped into
    sessions by X-Claude-Code-Session-Id / the ``_session_`` in metadata.user_id / ``prompt_cache_key`` /
    ``user`` (else one session), keeping file order inside each."""
    groups: dict[str, list[Turn]] = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        obj = json.loads(line)
        if not isinstance(obj, dict):
            raise ValueError(f"{path}:{lineno}: not a JSON object")
        if "body" in obj and isinstance(obj["body"], dict):
            body, rest = obj["body"], obj
        else:
            rest = {k: obj.pop(k) for k in ("path", "headers", "label") if k in obj}
            body = obj
        headers = {str(k): str(v) for k, v in (rest.get("headers") or {}).items()
                   if k.lower() not in ("authorization", "x-api-key", "host", "content-length")}
        lower = {k.lower(): v for k, v in headers.items()}
        uid = str((body.get("metadata") or {}).get("user_id") or "")
        key = (lower.get("x-claude-code-session-id") or (uid.split("_session_")[-1] if "_session_" in uid else "")
               or body.get("prompt_cache_key") or body.get("user") or "replay")
        turns = groups.setdefault(str(key), [])
        turns.append(Turn(body, headers, path=rest.get("path") or "/v1/messages", label=rest.get("label") or "",
                          index=len(turns)))
    return [Session(k, v) for k, v in groups.items()]


def dump_jsonl(sessions: list[Session], path: str | Path) -> None:
    """The workload as a JSONL file `load_jsonl` reads back (to inspect it, or to edit and replay)."""
    with open(path, "w") as f:
        for s in sessions:
            for t in s.turns:
                f.write(json.dumps({"path": t.path, "headers": t.headers, "label": t.label, "body": t.body}) + "\n")
