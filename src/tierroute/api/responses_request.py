"""An OpenAI Responses request body (``POST /v1/responses``) as our ``ChatRequest``.

What tierroute reads is validated; the body itself travels beside the request (``Inbound``), so a
provider that serves the Responses API receives it as sent. For a translation to chat completions,
Anthropic or Gemini, the mapping is:

| Responses                                      | ChatRequest                                                  |
|------------------------------------------------|--------------------------------------------------------------|
| ``instructions``                               | a leading ``system`` message                                 |
| ``input`` string                               | one ``user`` message                                         |
| ``message`` items (user, assistant, system, developer) | messages; ``input_text`` / ``output_text`` / ``input_image`` parts |
| ``function_call`` / ``custom_tool_call``       | ``tool_calls`` on the assistant turn (a custom tool's text as ``{"input": ...}``) |
| ``function_call_output`` / ``custom_tool_call_output`` | ``tool`` messages                                    |
| ``reasoning`` items (``encrypted_content``)    | ``ThinkingPart`` (origin openai) on the next assistant turn  |
| function tools / custom tools                  | ``tools`` (a custom tool becomes a function with one string ``input``) |
| ``tool_choice``, ``parallel_tool_calls``       | the same                                                     |
| ``reasoning`` (effort, summary)                | ``reasoning``                                                |
| ``text.format``                                | ``response_format``                                          |
| ``max_output_tokens``                          | ``max_tokens``                                               |
| ``prompt_cache_key``                           | ``session``                                                  |
| built-in tools (web_search, file_search, shell, mcp, ...), other items and fields | kept for OpenAI only; named in ``X-Tierroute-Dropped`` elsewhere |

``previous_response_id`` is expanded here, from tierroute's own store, into the input it continues,
so the conversation survives a move to another vendor; ``api/responses.py`` does the lookup.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct

from tierroute.api.errors import bad_field, invalid_body
from tierroute.providers.reasoning import carried
from tierroute.types import (
    ChatRequest,
    ContentPart,
    FunctionCall,
    FunctionDef,
    ImagePart,
    ImageURL,
    JSONSchemaSpec,
    Message,
    Reasoning,
    ResponseFormat,
    StreamOptions,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCall,
)

CUSTOM_INPUT_SCHEMA = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}
_encode = msgspec.json.encode


class _Reasoning(Struct, kw_only=True):
    effort: str | None = None
    summary: str | None = None


class _Text(Struct, kw_only=True):
    format: dict[str, Any] | None = None


class _Req(Struct, kw_only=True):
    model: str
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: _Reasoning | None = None
    text: _Text | None = None
    max_output_tokens: Annotated[int, Meta(ge=1)] | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    stream: bool = False
    store: bool | None = None
    previous_response_id: str | None = None
    prompt_cache_key: str | None = None
    metadata: dict[str, Any] | None = None
    user: str | None = None
    include: list[str] | None = None


READ_FIELDS = frozenset(_Req.__struct_fields__)
# Read by tierroute itself (storage, expansion): not something a translation drops.
_OURS = frozenset(("store", "previous_response_id", "include", "stream"))


def _str(v: Any, param: str) -> str:
    if not isinstance(v, str):
        raise bad_field("must be a string", param)
    return v


def _parts(content: Any, param: str, dropped: list[str]) -> str | list[ContentPart]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_field("content must be a string or a list of content parts", param)
    parts: list[ContentPart] = []
    for k, p in enumerate(content):
        where = f"{param}[{k}]"
        if not isinstance(p, dict) or not isinstance(p.get("type"), str):
            raise bad_field("a content part is an object with a type", where)
        kind = p["type"]
        if kind in ("input_text", "output_text", "text"):
            parts.append(TextPart(text=_str(p.get("text", ""), where + ".text")))
        elif kind == "refusal":
            parts.append(TextPart(text=_str(p.get("refusal", ""), where + ".refusal")))
        elif kind == "input_image":
            url = p.get("image_url")
            if not isinstance(url, str):
                dropped.append("input_image (file_id)")
                continue
            detail = p.get("detail")
            parts.append(ImagePart(image_url=ImageURL(url=url, detail=detail if detail in ("low", "high", "auto")
                                                      else None)))
        else:
            dropped.append(kind)
    if all(isinstance(p, TextPart) for p in parts):
        return "".join(p.text for p in parts)  # type: ignore[union-attr]
    return parts


def _output_text(output: Any, param: str, dropped: list[str]) -> str | list[ContentPart]:
    if isinstance(output, str):
        return output
    return _parts(output, param, dropped)


class _Turns:
    """Builds chat messages from Responses items: a function call joins the assistant turn before
    it (chat wants the calls on the assistant message), a reasoning item waits for its turn."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.pending_thoughts: list[ThinkingPart] = []

    def assistant(self) -> Message:
        last = self.messages[-1] if self.messages else None
        if last is None or last.role != "assistant":
            last = Message(role="assistant", content=None)
            self.messages.append(last)
        if self.pending_thoughts:
            c = last.content
            rest: list[ContentPart] = [TextPart(text=c)] if isinstance(c, str) and c else list(c or [])  # type: ignore[arg-type]
            last.content = [*self.pending_thoughts, *rest]
            self.pending_thoughts = []
        return last

    def call(self, call_id: str, name: str, arguments: str) -> None:
        m = self.assistant()
        m.tool_calls = [*(m.tool_calls or []), ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))]

    def say(self, role: Any, content: str | list[ContentPart]) -> None:
        if role == "assistant":
            m = self.assistant()
            if m.content in (None, "") and not m.tool_calls:
                m.content = content
            else:  # a second assistant message in a row: join the texts
                prev = m.content if isinstance(m.content, list) else ([TextPart(text=m.content)] if m.content else [])
                more = content if isinstance(content, list) else [TextPart(text=content)]
                m.content = [*prev, *more]
            return
        self.messages.append(Message(role=role, content=content))


def _items(items: list[dict[str, Any]], dropped: list[str]) -> list[Message]:
    turns = _Turns()
    for i, it in enumerate(items):
        param = f"input[{i}]"
        if not isinstance(it, dict):
            raise bad_field("an input item is an object", param)
        kind = it.get("type", "message" if "role" in it else None)
        if kind == "message":
            role = it.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise bad_field("role must be user, assistant, system or developer", param + ".role")
            turns.say(role, _parts(it.get("content", ""), param + ".content", dropped))
        elif kind in ("function_call", "custom_tool_call"):
            call_id = _str(it.get("call_id"), param + ".call_id")
            name = _str(it.get("name"), param + ".name")
            if kind == "function_call":
                args = _str(it.get("arguments", ""), param + ".arguments")
            else:
                args = _encode({"input": _str(it.get("input", ""), param + ".input")}).decode()
            turns.call(call_id, name, args)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = _str(it.get("call_id"), param + ".call_id")
            turns.messages.append(Message(role="tool", tool_call_id=call_id,
                                          content=_output_text(it.get("output", ""), param + ".output", dropped)))
        elif kind == "reasoning":
            summary = "\n".join(s.get("text", "") for s in it.get("summary") or () if isinstance(s, dict))
            enc = it.get("encrypted_content")
            ours = carried(enc) if isinstance(enc, str) else None  # another vendor's, carried by tierroute
            turns.pending_thoughts.append(ours or ThinkingPart(
                thinking=summary, origin="openai", encrypted_content=enc if isinstance(enc, str) else UNSET,
                item_id=it["id"] if isinstance(it.get("id"), str) else UNSET))
        elif kind is None:
            raise bad_field("an input item needs a type (or a role, for a message)", param + ".type")
        else:
            dropped.append(f"input item {kind}")
    if turns.pending_thoughts:  # reasoning with no answer after it carries nothing for another vendor
        dropped.append("reasoning")
    return turns.messages


def _tools(tools: list[dict[str, Any]] | None, dropped: list[str]) -> list[Tool] | None:
    out: list[Tool] = []
    for k, t in enumerate(tools or ()):
        kind = t.get("type")
        if kind == "function":
            out.append(Tool(function=FunctionDef(name=_str(t.get("name"), f"tools[{k}].name"),
                                                 description=t.get("description"),
                                                 parameters=t.get("parameters") or {"type": "object", "properties": {}},
                                                 strict=t.get("strict") if isinstance(t.get("strict"), bool) else None)))
        elif kind == "custom":
            desc = t.get("description") or ""
            fmt = t.get("format")
            if isinstance(fmt, dict) and fmt.get("type") == "grammar":
                desc += f"\n\nThe input must follow this {fmt.get('syntax', '')} grammar:\n{fmt.get('definition', '')}"
            out.append(Tool(function=FunctionDef(name=_str(t.get("name"), f"tools[{k}].name"),
                                                 description=desc.strip() or None, parameters=CUSTOM_INPUT_SCHEMA)))
        else:
            dropped.append(f"tools.{t.get('name') or kind} ({kind})")
    return out or None


def _tool_choice(tc: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    if tc is None or isinstance(tc, str):
        return tc
    if tc.get("type") in ("function", "custom") and isinstance(tc.get("name"), str):
        return {"type": "function", "function": {"name": tc["name"]}}
    return "auto"


def _format(text: _Text | None) -> ResponseFormat | None:
    fmt = text.format if text else None
    if not fmt or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_object":
        return ResponseFormat(type="json_object")
    if fmt.get("type") == "json_schema":
        return ResponseFormat(type="json_schema", json_schema=JSONSchemaSpec(
            name=fmt.get("name") or "output", schema=fmt.get("schema"), strict=fmt.get("strict")))
    return None


def decode_responses(doc: dict[str, Any]) -> tuple[ChatRequest, list[str]]:
    """The request (``previous_response_id`` already expanded into ``input`` by the caller), and what
    only OpenAI's Responses API can carry."""
    try:
        r = msgspec.convert(doc, _Req)
    except msgspec.ValidationError as exc:
        raise invalid_body(exc) from None
    dropped: list[str] = []
    messages: list[Message] = []
    if r.instructions:
        messages.append(Message(role="system", content=r.instructions))
    if isinstance(r.input, str):
        messages.append(Message(role="user", content=r.input))
    elif r.input:
        messages.extend(_items(r.input, dropped))
    if not any(m.role != "system" for m in messages):
        raise bad_field("input must hold at least one item", "input")
    tools = _tools(r.tools, dropped)
    reasoning = (Reasoning(effort=r.reasoning.effort, summary=r.reasoning.summary)
                 if r.reasoning and (r.reasoning.effort or r.reasoning.summary) else None)
    if reasoning is not None and reasoning.effort in ("none", "minimal") and reasoning.effort == "none":
        reasoning = Reasoning(mode="disabled")
    only_openai = sorted(k for k in doc if k not in READ_FIELDS) + dropped
    req = ChatRequest(
        model=r.model, messages=messages, max_tokens=r.max_output_tokens, temperature=r.temperature, top_p=r.top_p,
        stream=r.stream, stream_options=StreamOptions(include_usage=True) if r.stream else None,
        tools=tools, tool_choice=_tool_choice(r.tool_choice) if tools else None,
        parallel_tool_calls=r.parallel_tool_calls if tools else None, response_format=_format(r.text),
        user=r.user, metadata=r.metadata or None,
        reasoning=reasoning if reasoning is not None else UNSET,
        session=r.prompt_cache_key if r.prompt_cache_key else UNSET,
    )
    return req, [d for d in only_openai if d not in _OURS]
