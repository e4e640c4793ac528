"""An Anthropic Messages request (as Claude Code and the current SDK send it) read into a ``Prompt``.

Accepted as the API accepts them: ``system`` as a string or text blocks, turns with role
``system`` inside ``messages``, ``cache_control`` on any block and at the top level (automatic
caching of the last block), ``thinking`` (enabled with ``budget_tokens`` >= 1024 and below
``max_tokens``, adaptive, disabled), ``output_config`` (``effort``, ``format`` json_schema),
earlier ``thinking`` / ``redacted_thinking`` blocks, client and server tool types, and every field
the simulator does not read (``metadata``, ``context_management``, ``container``, ...), which it
ignores rather than refuses. Block types are those of the current SDK (beta ones included); an
unknown type is refused as the API refuses it, except on the beta surface (``?beta=true`` or an
``anthropic-beta`` header), where new block types appear first.
"""

from __future__ import annotations

from typing import Any

from tierroute.sim.answer import Prompt
from tierroute.sim.wire import SimError, encode, text_of

BLOCKS = frozenset((
    "text", "image", "document", "search_result", "thinking", "redacted_thinking", "tool_use", "tool_result",
    "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
    "bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result",
    "container_upload", "mcp_tool_use", "mcp_tool_result", "compaction", "tool_reference",
    "advisor_tool_result", "tool_addition", "tool_removal", "mcp_tool_listing", "fallback",
))  # fmt: skip
_REMINDER = "<system-reminder>"  # a block Claude Code adds to a user turn; not what the user asked
CLIENT_TOOLS = ("bash_", "text_editor_", "computer_", "memory_")  # tool types the client runs
_BUDGET_DOC = (
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
)


class _Text:
    """The prompt text built block by block, so a cache marker knows where its prefix ends."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.marks: list[tuple[int, str]] = []

    def add(self, text: str) -> None:
        if text:
            self.size += len(text) + (1 if self.parts else 0)
            self.parts.append(text)

    def mark(self, block: Any) -> None:
        control = block.get("cache_control") if isinstance(block, dict) else None
        if isinstance(control, dict):
            self.marks.append((self.size, "1h" if control.get("ttl") == "1h" else "5m"))


def parse(body: Any, *, count_only: bool = False, beta: bool = False) -> tuple[Prompt, bool]:
    """-> (prompt, stream). Raises ``SimError`` for what the API refuses."""
    if not isinstance(body, dict):
        raise SimError("invalid", "Input should be a valid dictionary")
    model = body.get("model")
    if "model" not in body:
        raise SimError("invalid", "model: Field required")
    if not isinstance(model, str) or not model:
        raise SimError("invalid", "model: Input should be a valid string")
    if "messages" not in body:
        raise SimError("invalid", "messages: Field required")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise SimError("invalid", "messages: Input should be a valid list")
    max_tokens = body.get("max_tokens")
    if not count_only:
        if "max_tokens" not in body:
            raise SimError("invalid", "max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise SimError("invalid", "max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise SimError("invalid", "max_tokens: Input should be greater than or equal to 1")

    text = _Text()
    _system(body.get("system"), text)
    question, images, results = "", 0, []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant", "system"):
            raise SimError("invalid", f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'")
        if "content" not in m:
            raise SimError("invalid", f"messages.{i}.content: Field required")
        own, n_images, turn_results = _content(m["content"], f"messages.{i}.content", text, beta)
        images += n_images
        if role != "user":
            continue
        if turn_results:  # a tool-result turn continues the question asked before it
            results += turn_results
            question = question or own
        else:
            question, results = own, []
    top = body.get("cache_control")
    if isinstance(top, dict):  # automatic caching: a marker on the last cacheable block
        text.marks.append((text.size, "1h" if top.get("ttl") == "1h" else "5m"))

    tools, custom_salt = _tools(body.get("tools"))
    choice = body.get("tool_choice") or {}
    kind = choice.get("type", "auto") if isinstance(choice, dict) else "auto"
    tool_choice = {"any": "required", "none": "none"}.get(kind, "auto")
    if kind == "tool":
        tool_choice = str(choice.get("name", ""))
    parallel = not (isinstance(choice, dict) and choice.get("disable_parallel_tool_use"))
    reasoning, budget, hidden = _thinking(body, max_tokens if not count_only else None)
    if reasoning and tool_choice not in ("auto", "none"):
        raise SimError("invalid", "Thinking may not be enabled when tool_choice forces tool use.")
    stop = body.get("stop_sequences") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise SimError("invalid", "stop_sequences: Input should be a valid list of strings")
    schema = _output_schema(body.get("output_config"))
    prompt = Prompt(
        model=model,
        text="\n".join(text.parts),
        question=question,
        images=images,
        tools=tools,
        tool_choice=tool_choice,
        tool_result="\n".join(results) if results else None,
        tool_results=len(results),
        parallel_tools=parallel,
        json_mode=schema is not None,
        schema=schema,
        max_tokens=max_tokens if not count_only else None,
        stop=tuple(stop),
        reasoning=reasoning,
        thinking_budget=budget,
        hidden_thinking=hidden,
        cache_marks=tuple(text.marks),
        cache_salt=custom_salt,
    )
    return prompt, bool(body.get("stream"))


def _system(system: Any, text: _Text) -> None:
    if system is None or isinstance(system, str):
        text.add(system or "")
        return
    if not isinstance(system, list):
        raise SimError("invalid", "system: Input should be a valid string or a list of text blocks")
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise SimError("invalid", f"system.{j}.type: Input should be 'text'")
        text.add(str(block.get("text", "")))
        text.mark(block)


def _content(content: Any, where: str, text: _Text, beta: bool) -> tuple[str, int, list[str]]:
    """Adds a turn's blocks to ``text``. -> (the turn's own text but Claude Code's
    ``<system-reminder>`` blocks, images, tool result texts)."""
    if isinstance(content, str):
        text.add(content)
        return content, 0, []
    if not isinstance(content, list):
        raise SimError("invalid", f"{where}: Input should be a valid string or a list of content blocks")
    own, images, results = [], 0, []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(kind, str) or (kind not in BLOCKS and not beta):
            raise SimError("invalid", f"{where}.{j}.type: Input tag '{kind}' found using 'type' does not match "
                           f"any of the expected tags: {', '.join(repr(b) for b in sorted(BLOCKS))}")  # fmt: skip
        if kind == "text":
            own.append(str(block.get("text", "")))
            text.add(own[-1])
        elif kind == "image":
            source = block.get("source")
            if not isinstance(source, dict) or source.get("type") not in ("base64", "url", "file"):
                raise SimError("invalid", f"{where}.{j}.image.source: Input should be a base64 or url source")
            images += 1
        elif kind == "tool_result":
            inner = block.get("content", "")
            if isinstance(inner, list):
                scratch = _Text()
                inner_own, inner_images, _ = _content(inner, f"{where}.{j}.content", scratch, beta)
                images += inner_images
                results.append(inner_own)
            else:
                results.append(text_of(inner))
            text.add(results[-1])
        elif kind in ("document", "search_result") and isinstance(block.get("source"), dict):
            data = block["source"].get("data")
            text.add(data if isinstance(data, str) and block["source"].get("type") == "text" else "")
        text.mark(block)
    asked = [t for t in own if not t.lstrip().startswith(_REMINDER)] or own  # Claude Code's reminders
    return "\n".join(asked), images, results


def _tools(tools: Any) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """The tools the model may call (custom and client tools; server tools it never calls), and the
    cache salt: the whole tool list, since a changed tool invalidates a cached prefix."""
    out = []
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or not tool.get("name"):
            if isinstance(tool, dict) and tool.get("type") not in (None, "custom"):
                continue  # an MCP toolset or another server-side entry without a name
            raise SimError("invalid", f"tools.{i}.custom.name: Field required")
        kind = tool.get("type")
        if kind in (None, "custom"):
            if not isinstance(tool.get("input_schema"), dict):
                raise SimError("invalid", f"tools.{i}.custom.input_schema: Field required")
            out.append((str(tool["name"]), tool["input_schema"]))
        elif isinstance(kind, str) and kind.startswith(CLIENT_TOOLS):
            out.append((str(tool["name"]), {"type": "object", "properties": {}}))
    return out, encode(tools).decode() if tools else ""


def _thinking(body: dict[str, Any], max_tokens: int | None) -> tuple[str | None, int | None, bool]:
    """-> (reasoning asked: "enabled" or an effort, budget, thinking display omitted)."""
    thinking = body.get("thinking")
    effort = (
        body.get("output_config", {}).get("effort") if isinstance(body.get("output_config"), dict) else None
    )
    if thinking is None:
        return None, None, False
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive", "disabled"):
        raise SimError("invalid", "thinking: Input tag found using 'type' does not match any of the expected "
                       "tags: 'enabled', 'disabled', 'adaptive'")  # fmt: skip
    kind, hidden = thinking["type"], thinking.get("display") == "omitted"
    if kind == "disabled":
        return None, None, False
    if kind == "adaptive":
        return str(effort or "high"), None, hidden
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise SimError("invalid", "thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        raise SimError(
            "invalid", "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        )
    if max_tokens is not None and max_tokens <= budget:
        raise SimError("invalid", "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
                       f"our documentation at {_BUDGET_DOC}")  # fmt: skip
    return "enabled", budget, hidden


def _output_schema(config: Any) -> dict[str, Any] | None:
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = fmt.get("schema")
    return schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
