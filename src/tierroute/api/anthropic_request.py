"""An Anthropic Messages request body as our ``ChatRequest``.

The whole current request schema is accepted. What tierroute reads is validated (a malformed value
is a 400 naming the field); everything else passes untouched, because the raw body travels beside
the decoded request (``Inbound``) and an Anthropic upstream receives it as sent. For a translation
to another vendor, the mapping is:

| Anthropic                                   | ChatRequest                                                    |
|---------------------------------------------|----------------------------------------------------------------|
| ``system`` (string or text blocks)          | a leading ``system`` message (text parts keep ``cache_control``) |
| a ``system`` turn inside ``messages``       | a ``system`` message at that place                             |
| ``text`` / ``image`` blocks                 | ``TextPart`` / ``ImagePart`` (with ``cache_control``)          |
| ``tool_use`` (assistant)                    | ``tool_calls`` (the block's ``cache_control`` on the message)  |
| ``tool_result`` (user)                      | a ``tool`` message; ``is_error`` prefixes ``Error:``           |
| ``thinking`` / ``redacted_thinking``        | ``ThinkingPart`` (origin anthropic, signature / data kept)     |
| any other block (``document``, server tools)| ``OpaquePart`` (dropped, by name, for other vendors)           |
| ``thinking``, ``output_config.effort``      | ``reasoning``                                                  |
| ``output_config.format`` (JSON schema)      | ``response_format`` json_schema                                |
| ``tools`` (custom) / ``tool_choice``        | ``tools`` / ``tool_choice``, ``parallel_tool_calls``           |
| server tools, ``context_management``, ``mcp_servers``, ``container``, other fields | kept for Anthropic only; named in ``X-Tierroute-Dropped`` elsewhere |
| ``metadata.user_id``, ``X-Claude-Code-Session-Id`` | ``user``, ``session``                                   |
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct

from tierroute.api.errors import bad_field, invalid_body
from tierroute.providers.reasoning import from_anthropic
from tierroute.types import (
    ChatRequest,
    ContentPart,
    FunctionCall,
    FunctionDef,
    ImagePart,
    ImageURL,
    JSONSchemaSpec,
    Message,
    OpaquePart,
    ResponseFormat,
    StreamOptions,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCall,
)

_encode = msgspec.json.encode


class _Block(Struct, kw_only=True):
    type: str
    text: str | None = None
    source: dict[str, Any] | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None
    tool_use_id: str | None = None
    content: str | list[_Block] | None = None
    is_error: bool | None = None
    cache_control: dict[str, Any] | None = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None


class _Msg(Struct, kw_only=True):
    role: Literal["user", "assistant", "system"]
    content: str | list[_Block]


class _Tool(Struct, kw_only=True):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    type: str | None = None
    cache_control: dict[str, Any] | None = None


class _ToolChoice(Struct, kw_only=True):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class _OutputConfig(Struct, kw_only=True):
    effort: str | None = None
    format: dict[str, Any] | None = None


class _Req(Struct, kw_only=True):
    model: str
    max_tokens: Annotated[int, Meta(ge=1)]
    messages: Annotated[list[_Msg], Meta(min_length=1)]
    system: str | list[_Block] | None = None
    stop_sequences: list[str] | None = None
    temperature: Annotated[float, Meta(ge=0, le=1)] | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    top_k: Annotated[int, Meta(ge=0)] | None = None
    stream: bool = False
    tools: list[_Tool] | None = None
    tool_choice: _ToolChoice | None = None
    metadata: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    output_config: _OutputConfig | None = None


# Top-level fields the table above maps; any other field is Anthropic-only.
READ_FIELDS = frozenset(_Req.__struct_fields__)
_SESSION_IN_USER_ID = re.compile(r"session_([0-9a-fA-F-]{8,})")


def _cc(b: _Block | _Tool) -> Any:
    return b.cache_control if b.cache_control is not None else UNSET


def _image(b: _Block, param: str) -> ImagePart:
    src = b.source or {}
    kind = src.get("type")
    if kind == "base64" and isinstance(src.get("data"), str) and isinstance(src.get("media_type"), str):
        return ImagePart(image_url=ImageURL(url=f"data:{src['media_type']};base64,{src['data']}"),
                         cache_control=_cc(b))
    if kind == "url" and isinstance(src.get("url"), str):
        return ImagePart(image_url=ImageURL(url=src["url"]), cache_control=_cc(b))
    raise bad_field("an image source must be {type: base64, media_type, data} or {type: url, url}", param + ".source")


def _opaque(raw: Any, b: _Block) -> OpaquePart:
    return OpaquePart(kind=b.type, origin="anthropic", data=raw if isinstance(raw, dict) else {"type": b.type})


def _raw_at(raw: Any, *path: int | str) -> Any:
    """The raw JSON value at ``path`` (the decoded struct and the raw body have the same shape)."""
    for p in path:
        try:
            raw = raw[p]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _result_parts(b: _Block, raw: Any, param: str) -> str | list[ContentPart]:
    c = b.content
    prefix = "Error: " if b.is_error else ""
    if c is None or isinstance(c, str):
        return prefix + (c or "")
    parts: list[ContentPart] = [TextPart(text=prefix)] if prefix else []
    for k, inner in enumerate(c):
        if inner.type == "text":
            parts.append(TextPart(text=inner.text or "", cache_control=_cc(inner)))
        elif inner.type == "image":
            parts.append(_image(inner, f"{param}.content[{k}]"))
        else:
            parts.append(_opaque(_raw_at(raw, "content", k), inner))
    if all(isinstance(p, TextPart) and p.cache_control is UNSET for p in parts):
        return "".join(p.text for p in parts)  # type: ignore[union-attr]
    return parts


def _text_turn(role: Any, m: _Msg, raw: Any, i: int) -> Message:
    """A user or system turn's text and images (tool results are split off by the caller)."""
    if isinstance(m.content, str):
        return Message(role=role, content=m.content)
    parts: list[ContentPart] = []
    for j, b in enumerate(m.content):
        param = f"messages[{i}].content[{j}]"
        if b.type == "text":
            parts.append(TextPart(text=b.text or "", cache_control=_cc(b)))
        elif b.type == "image":
            parts.append(_image(b, param))
        elif b.type != "tool_result":
            parts.append(_opaque(_raw_at(raw, "content", j), b))
    return Message(role=role, content=parts)


def _user(m: _Msg, raw: Any, i: int) -> list[Message]:
    if isinstance(m.content, str):
        return [Message(role="user", content=m.content)]
    out: list[Message] = []
    for j, b in enumerate(m.content):
        if b.type == "tool_result":
            param = f"messages[{i}].content[{j}]"
            if not b.tool_use_id:
                raise bad_field("a tool_result needs its tool_use_id", param + ".tool_use_id")
            out.append(Message(role="tool", tool_call_id=b.tool_use_id,
                               content=_result_parts(b, _raw_at(raw, "content", j), param), cache_control=_cc(b)))
    rest = _text_turn("user", m, raw, i)
    if rest.content:
        c = rest.content
        if isinstance(c, list) and len(c) == 1 and isinstance(c[0], TextPart) and c[0].cache_control is UNSET:
            rest.content = c[0].text
        out.append(rest)
    return out


def _assistant(m: _Msg, raw: Any, i: int) -> Message:
    if isinstance(m.content, str):
        return Message(role="assistant", content=m.content)
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    marker: Any = UNSET
    for j, b in enumerate(m.content):
        if b.type == "text":
            parts.append(TextPart(text=b.text or "", cache_control=_cc(b)))
        elif b.type == "tool_use":
            if not b.id or not b.name:
                raise bad_field("a tool_use block needs id and name", f"messages[{i}].content[{j}]")
            calls.append(ToolCall(id=b.id, function=FunctionCall(name=b.name,
                                                                 arguments=_encode(b.input or {}).decode())))
            marker = _cc(b) if b.cache_control is not None else marker
        elif b.type == "thinking":
            parts.append(ThinkingPart(thinking=b.thinking or "", origin="anthropic",
                                      signature=b.signature if b.signature is not None else UNSET))
        elif b.type == "redacted_thinking":
            parts.append(ThinkingPart(origin="anthropic", redacted=b.data or ""))
        else:
            parts.append(_opaque(_raw_at(raw, "content", j), b))
    content: str | list[ContentPart] | None = parts or None
    if parts and all(isinstance(p, TextPart) and p.cache_control is UNSET for p in parts):
        content = "".join(p.text for p in parts)  # type: ignore[union-attr]
    return Message(role="assistant", content=content, tool_calls=calls or None, cache_control=marker)


def _system(r: _Req, raw: Any) -> Message | None:
    if not r.system:
        return None
    if isinstance(r.system, str):
        return Message(role="system", content=r.system)
    parts: list[ContentPart] = []
    for k, b in enumerate(r.system):
        if b.type != "text":
            raise bad_field("system blocks must be text blocks", f"system[{k}].type")
        parts.append(TextPart(text=b.text or "", cache_control=_cc(b)))
    return Message(role="system", content=parts)


def _tools(r: _Req) -> tuple[list[Tool] | None, list[str]]:
    if not r.tools:
        return None, []
    tools: list[Tool] = []
    server: list[str] = []
    for t in r.tools:
        if t.type not in (None, "custom"):
            server.append(f"tools.{t.name} ({t.type})")  # a server tool: Anthropic runs it, nobody else can
            continue
        tools.append(Tool(function=FunctionDef(name=t.name, description=t.description,
                                               parameters=t.input_schema or {"type": "object", "properties": {}}),
                          cache_control=_cc(t)))
    return tools or None, server


def _tool_choice(r: _Req) -> tuple[str | dict[str, Any] | None, bool | None]:
    tc = r.tool_choice
    if tc is None:
        return None, None
    if tc.type == "tool":
        if not tc.name:
            raise bad_field("tool_choice of type 'tool' needs a name", "tool_choice.name")
        choice: str | dict[str, Any] = {"type": "function", "function": {"name": tc.name}}
    else:
        choice = {"auto": "auto", "any": "required", "none": "none"}[tc.type]
    return choice, (False if tc.disable_parallel_tool_use else None)


def _response_format(oc: _OutputConfig | None) -> ResponseFormat | None:
    fmt = oc.format if oc else None
    if not fmt or fmt.get("type") != "json_schema":
        return None
    return ResponseFormat(type="json_schema", json_schema=JSONSchemaSpec(name="output", schema=fmt.get("schema")))


def decode_messages(doc: dict[str, Any], session: str | None = None) -> tuple[ChatRequest, list[str]]:
    """The request, and what in it only Anthropic can carry (for ``X-Tierroute-Dropped``)."""
    try:
        r = msgspec.convert(doc, _Req)
    except msgspec.ValidationError as exc:
        raise invalid_body(exc) from None
    raw_msgs = doc.get("messages") or []
    messages: list[Message] = []
    system = _system(r, doc)
    if system is not None:
        messages.append(system)
    for i, m in enumerate(r.messages):
        raw = _raw_at(raw_msgs, i)
        if m.role == "user":
            messages.extend(_user(m, raw, i))
        elif m.role == "system":
            messages.append(_text_turn("system", m, raw, i))
        else:
            messages.append(_assistant(m, raw, i))
    tools, server_tools = _tools(r)
    tool_choice, parallel = _tool_choice(r)
    meta = dict(r.metadata or {})
    user = meta.pop("user_id", None)
    if session is None and isinstance(user, str) and (m := _SESSION_IN_USER_ID.search(user)):
        session = m.group(1)
    reasoning = from_anthropic(r.thinking, r.output_config.effort if r.output_config else None)
    only_anthropic = sorted(k for k in doc if k not in READ_FIELDS) + server_tools
    req = ChatRequest(
        model=r.model, messages=messages, max_tokens=r.max_tokens, stop=r.stop_sequences or None,
        temperature=r.temperature, top_p=r.top_p, stream=r.stream,
        stream_options=StreamOptions(include_usage=True) if r.stream else None,
        tools=tools, tool_choice=tool_choice if tools else None, parallel_tool_calls=parallel if tools else None,
        response_format=_response_format(r.output_config), user=user if isinstance(user, str) else None,
        metadata=meta or None,
        reasoning=reasoning if reasoning is not None else UNSET,
        top_k=r.top_k if r.top_k is not None else UNSET,
        session=session if session else UNSET,
    )
    return req, only_anthropic
