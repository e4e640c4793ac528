"""The Anthropic Messages dialect inbound, so Claude-based agents can use tierroute as their base URL.

``POST /v1/messages`` bodies become our ``ChatRequest`` (and so route, cache and account like any
chat request); our ``ChatResponse`` / ``ChatChunk`` stream go back as Anthropic's Message JSON and
its SSE events (``message_start``, ``content_block_*``, ``message_delta``, ``message_stop``).

Mapping notes: ``tool_result`` blocks become ``tool`` messages placed before the rest of that user
turn (OpenAI wants results right after the call); ``thinking`` blocks are dropped (no OpenAI
equivalent); server tools (``web_search`` etc.) are refused with a 400 since no routed model runs
them; ``top_k`` has no OpenAI counterpart and is ignored. Only the first choice is returned.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from tierroute.api.errors import invalid_body
from tierroute.errors import InvalidRequest, TierrouteError
from tierroute.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ContentPart,
    FunctionCall,
    FunctionDef,
    ImagePart,
    ImageURL,
    Message,
    StreamOptions,
    TextPart,
    Tool,
    ToolCall,
)

_encode = msgspec.json.encode
_decode = msgspec.json.decode


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


class _Msg(Struct, kw_only=True):
    role: Literal["user", "assistant"]
    content: str | list[_Block]


class _Tool(Struct, kw_only=True):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    type: str | None = None


class _ToolChoice(Struct, kw_only=True):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


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


_req_decoder = msgspec.json.Decoder(_Req)
_DROPPED_BLOCKS = {"thinking", "redacted_thinking"}


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid request (at '{param}'): {message}", param=param)


def _image(b: _Block, param: str) -> ImagePart:
    src = b.source or {}
    kind = src.get("type")
    if kind == "base64" and isinstance(src.get("data"), str) and isinstance(src.get("media_type"), str):
        return ImagePart(image_url=ImageURL(url=f"data:{src['media_type']};base64,{src['data']}"))
    if kind == "url" and isinstance(src.get("url"), str):
        return ImagePart(image_url=ImageURL(url=src["url"]))
    raise _bad("an image source must be {type: base64, media_type, data} or {type: url, url}", param + ".source")


def _result_text(b: _Block, param: str) -> str:
    c = b.content
    if c is None:
        text = ""
    elif isinstance(c, str):
        text = c
    else:
        texts = []
        for k, inner in enumerate(c):
            if inner.type == "text":
                texts.append(inner.text or "")
            elif inner.type != "image":  # images inside tool results have no OpenAI tool-message form
                raise _bad(f"block type {inner.type!r} is not supported in a tool_result", f"{param}.content[{k}]")
        text = "\n".join(texts)
    return f"Error: {text}" if b.is_error else text


def _user(m: _Msg, i: int) -> list[Message]:
    if isinstance(m.content, str):
        return [Message(role="user", content=m.content)]
    results: list[Message] = []
    parts: list[ContentPart] = []
    for j, b in enumerate(m.content):
        param = f"messages[{i}].content[{j}]"
        if b.type == "text":
            parts.append(TextPart(text=b.text or ""))
        elif b.type == "image":
            parts.append(_image(b, param))
        elif b.type == "tool_result":
            if not b.tool_use_id:
                raise _bad("a tool_result needs its tool_use_id", param + ".tool_use_id")
            results.append(Message(role="tool", tool_call_id=b.tool_use_id, content=_result_text(b, param)))
        elif b.type not in _DROPPED_BLOCKS:
            raise _bad(f"content block type {b.type!r} is not supported", param + ".type")
    if parts:
        if all(isinstance(p, TextPart) for p in parts) and len(parts) == 1:
            results.append(Message(role="user", content=parts[0].text))  # type: ignore[union-attr]
        else:
            results.append(Message(role="user", content=parts))
    return results


def _assistant(m: _Msg, i: int) -> Message:
    if isinstance(m.content, str):
        return Message(role="assistant", content=m.content)
    texts: list[str] = []
    calls: list[ToolCall] = []
    for j, b in enumerate(m.content):
        if b.type == "text":
            texts.append(b.text or "")
        elif b.type == "tool_use":
            if not b.id or not b.name:
                raise _bad("a tool_use block needs id and name", f"messages[{i}].content[{j}]")
            calls.append(ToolCall(id=b.id, function=FunctionCall(name=b.name,
                                                                 arguments=_encode(b.input or {}).decode())))
        elif b.type not in _DROPPED_BLOCKS:
            raise _bad(f"content block type {b.type!r} is not supported in an assistant turn",
                       f"messages[{i}].content[{j}].type")
    return Message(role="assistant", content="".join(texts) if texts else None, tool_calls=calls or None)


def decode_messages_request(body: bytes) -> ChatRequest:
    """An Anthropic Messages request body as our ``ChatRequest``; ``InvalidRequest`` names the field."""
    try:
        r = _req_decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise invalid_body(exc) from None
    messages: list[Message] = []
    if r.system:
        if isinstance(r.system, str):
            system = r.system
        else:
            for k, b in enumerate(r.system):
                if b.type != "text":
                    raise _bad("system blocks must be text blocks", f"system[{k}].type")
            system = "\n\n".join(b.text or "" for b in r.system)
        messages.append(Message(role="system", content=system))
    for i, m in enumerate(r.messages):
        if m.role == "user":
            messages.extend(_user(m, i))
        else:
            messages.append(_assistant(m, i))
    tools = None
    if r.tools:
        tools = []
        for k, t in enumerate(r.tools):
            if t.type not in (None, "custom"):
                raise _bad(f"server tool type {t.type!r} is not supported by this gateway", f"tools[{k}].type")
            tools.append(Tool(function=FunctionDef(name=t.name, description=t.description,
                                                   parameters=t.input_schema or {"type": "object",
                                                                                 "properties": {}})))
    tool_choice: str | dict[str, Any] | None = None
    parallel: bool | None = None
    if r.tool_choice is not None:
        tc = r.tool_choice
        if tc.type == "tool":
            if not tc.name:
                raise _bad("tool_choice of type 'tool' needs a name", "tool_choice.name")
            tool_choice = {"type": "function", "function": {"name": tc.name}}
        else:
            tool_choice = {"auto": "auto", "any": "required", "none": "none"}[tc.type]
        if tc.disable_parallel_tool_use:
            parallel = False
    meta = dict(r.metadata or {})
    user = meta.pop("user_id", None)
    return ChatRequest(
        model=r.model,
        messages=messages,
        max_tokens=r.max_tokens,
        stop=r.stop_sequences or None,
        temperature=r.temperature,
        top_p=r.top_p,
        stream=r.stream,
        stream_options=StreamOptions(include_usage=True) if r.stream else None,
        tools=tools,
        tool_choice=tool_choice if tools else None,
        parallel_tool_calls=parallel if tools else None,
        user=user if isinstance(user, str) else None,
        metadata=meta or None,
    )


_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def _msg_id(raw: str) -> str:
    if raw.startswith("msg_"):
        return raw
    return "msg_" + (raw.removeprefix("chatcmpl-") or uuid.uuid4().hex[:24])


def _tool_input(arguments: str) -> Any:
    try:
        return _decode(arguments) if arguments.strip() else {}
    except msgspec.DecodeError:
        return {"_raw": arguments}  # the model wrote broken JSON; keep it visible rather than lose it


def encode_message(resp: ChatResponse, model: str) -> bytes:
    """Our response as an Anthropic Message (first choice only)."""
    content: list[dict[str, Any]] = []
    stop = "end_turn"
    if resp.choices:
        ch = resp.choices[0]
        if ch.message.content:
            content.append({"type": "text", "text": ch.message.content})
        for tc in ch.message.tool_calls or ():
            content.append({"type": "tool_use", "id": tc.id, "name": tc.function.name,
                            "input": _tool_input(tc.function.arguments)})
        stop = _STOP.get(ch.finish_reason or "stop", "end_turn")
    return _encode({
        "id": _msg_id(resp.id), "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": resp.usage.prompt_tokens, "output_tokens": resp.usage.completion_tokens},
    })


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _encode(payload) + b"\n\n"


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                503: "overloaded_error", 529: "overloaded_error", 504: "timeout_error"}


def error_status(err: TierrouteError) -> int:
    """The HTTP status Anthropic would use: 529 for overload (Claude clients retry it specially)."""
    return 529 if err.type == "overloaded_error" else err.status


def error_body(err: TierrouteError) -> bytes:
    """Anthropic's error JSON for any of our errors (the HTTP status stays ``err.status``)."""
    etype = _ERROR_TYPES.get(err.status, "api_error")
    return _encode({"type": "error", "error": {"type": etype, "message": err.message}})


async def stream_events(chunks: AsyncIterator[ChatChunk], model: str) -> AsyncIterator[bytes]:
    """Anthropic SSE events from our chunks (first choice only).

    Nothing is emitted until the first chunk arrives, so an error before it propagates to the
    caller, who can still answer with an HTTP error. A ``TierrouteError`` after that becomes an
    ``event: error`` and ends the stream (never a silent clean end)."""
    it = chunks.__aiter__()
    try:
        first: ChatChunk | None = await it.__anext__()
    except StopAsyncIteration:
        first = None
    msg_id = _msg_id(first.id if first else "")
    yield _event("message_start", {"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}})
    block = -1  # index of the open content block, -1 when none
    open_kind: str | None = None
    open_tool: int | None = None
    finish: str | None = None
    usage = None
    chunk = first
    try:
        while chunk is not None:
            if chunk.usage is not None:
                usage = chunk.usage
            for ch in chunk.choices:
                if ch.index != 0:
                    continue
                d = ch.delta
                if d.content:
                    if open_kind != "text":
                        if open_kind is not None:
                            yield _event("content_block_stop", {"type": "content_block_stop", "index": block})
                        block += 1
                        open_kind, open_tool = "text", None
                        yield _event("content_block_start", {"type": "content_block_start", "index": block,
                                                             "content_block": {"type": "text", "text": ""}})
                    yield _event("content_block_delta", {"type": "content_block_delta", "index": block,
                                                         "delta": {"type": "text_delta", "text": d.content}})
                for tcd in d.tool_calls or ():
                    fn = tcd.function or {}
                    if open_kind != "tool" or tcd.index != open_tool:
                        if open_kind is not None:
                            yield _event("content_block_stop", {"type": "content_block_stop", "index": block})
                        block += 1
                        open_kind, open_tool = "tool", tcd.index
                        yield _event("content_block_start", {"type": "content_block_start", "index": block,
                                                             "content_block": {
                                                                 "type": "tool_use",
                                                                 "id": tcd.id or "toolu_" + uuid.uuid4().hex[:24],
                                                                 "name": fn.get("name", ""), "input": {}}})
                    if fn.get("arguments"):
                        yield _event("content_block_delta", {"type": "content_block_delta", "index": block,
                                                             "delta": {"type": "input_json_delta",
                                                                       "partial_json": fn["arguments"]}})
                if ch.finish_reason is not None:
                    finish = ch.finish_reason
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                chunk = None
    except TierrouteError as err:
        yield b"event: error\ndata: " + error_body(err) + b"\n\n"
        return
    finally:
        # the client may stop reading early: let the upstream stream close its connection now
        aclose = getattr(it, "aclose", None)
        if aclose is not None and chunk is not None:
            await aclose()
    if open_kind is not None:
        yield _event("content_block_stop", {"type": "content_block_stop", "index": block})
    u: dict[str, int] = {"output_tokens": usage.completion_tokens if usage else 0}
    if usage is not None:
        u["input_tokens"] = usage.prompt_tokens
    yield _event("message_delta", {"type": "message_delta",
                                   "delta": {"stop_reason": _STOP.get(finish or "stop", "end_turn"),
                                             "stop_sequence": None},
                                   "usage": u})
    yield _event("message_stop", {"type": "message_stop"})
