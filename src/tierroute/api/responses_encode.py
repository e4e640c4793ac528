"""Our answers in OpenAI's Responses dialect: the Response object and its SSE event stream.

A forwarded answer (an OpenAI Responses upstream answered, ``raw`` set) is sent as the vendor wrote
it. A translated one is built here: ``reasoning`` items (OpenAI's own, with their
``encrypted_content``, handed back for the next turn), a ``message`` item with ``output_text``, and a
``function_call`` (or ``custom_tool_call``, for a tool the client declared as custom) per call. The
stream is the documented sequence: ``response.created``, ``response.in_progress``, per item
``response.output_item.added`` .. ``.done`` with ``content_part``, ``output_text.delta`` /
``.done`` and ``function_call_arguments.delta`` / ``.done`` inside, then ``response.completed``
(or ``response.incomplete``; ``response.failed`` when the upstream breaks mid-way). Every event
carries its ``sequence_number``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from msgspec import UNSET

from tierroute.api.relay import first_chunk, follow
from tierroute.errors import TierrouteError
from tierroute.providers.reasoning import carry
from tierroute.types import ChatChunk, ChatRequest, ChatResponse, FunctionCall, ThinkingPart, ToolCall, Usage

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(12).hex()}"


def custom_tools(req: ChatRequest) -> set[str]:
    """Names of the tools the client declared as ``custom`` (their calls go back as custom_tool_call)."""
    inbound = req.inbound
    if inbound is UNSET:
        return set()
    return {t.get("name") for t in inbound.body.get("tools") or () if isinstance(t, dict)  # type: ignore[union-attr]
            and t.get("type") == "custom"}


def usage_json(u: Usage) -> dict[str, Any]:
    return {"input_tokens": u.prompt_tokens, "input_tokens_details": {"cached_tokens": u.cache_read()},
            "output_tokens": u.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": u.prompt_tokens + u.completion_tokens}


def _reasoning_item(t: ThinkingPart) -> dict[str, Any] | None:
    item: dict[str, Any] = {"type": "reasoning", "id": t.item_id if t.item_id is not UNSET else new_id("rs"),
                            "summary": [{"type": "summary_text", "text": t.thinking}] if t.thinking else []}
    if t.origin == "openai":
        if t.encrypted_content is not UNSET:
            item["encrypted_content"] = t.encrypted_content
    elif t.origin == "anthropic":  # kept for the next turn, as OpenAI's encrypted reasoning is
        item["encrypted_content"] = carry(t)
    else:
        return None
    return item


def message_item(text: str, item_id: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


def call_item(tc: ToolCall, custom: set[str], item_id: str | None = None, status: str = "completed") -> dict[str, Any]:
    if tc.function.name in custom:
        try:
            text = _decode(tc.function.arguments or "{}").get("input", "")
        except (msgspec.DecodeError, AttributeError):
            text = tc.function.arguments
        return {"type": "custom_tool_call", "id": item_id or new_id("ctc"), "call_id": tc.id,
                "name": tc.function.name, "input": text, "status": status}
    return {"type": "function_call", "id": item_id or new_id("fc"), "call_id": tc.id, "name": tc.function.name,
            "arguments": tc.function.arguments, "status": status}


def output_items(resp: ChatResponse, req: ChatRequest) -> list[dict[str, Any]]:
    if not resp.choices:
        return []
    msg = resp.choices[0].message
    items: list[dict[str, Any]] = []
    for t in msg.reasoning if msg.reasoning is not UNSET else ():
        if (item := _reasoning_item(t)) is not None:
            items.append(item)
    if msg.content:
        items.append(message_item(msg.content, new_id("msg")))
    custom = custom_tools(req)
    items.extend(call_item(tc, custom) for tc in msg.tool_calls or ())
    return items


def response_object(rid: str, req: ChatRequest, model: str, output: list[dict[str, Any]], usage: Usage | None,
                    status: str, created: int, incomplete: str | None = None,
                    error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Response object, with the request's settings echoed as OpenAI does."""
    inbound = req.inbound
    body = inbound.body if inbound is not UNSET else {}  # type: ignore[union-attr]
    previous = inbound.continues if inbound is not UNSET else None  # type: ignore[union-attr]
    return {
        "id": rid, "object": "response", "created_at": created, "status": status,
        "background": False, "error": error,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "model": model, "output": output, "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": previous,
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "store": body.get("store", True), "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}}, "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [], "top_p": body.get("top_p", 1.0), "truncation": body.get("truncation", "disabled"),
        "usage": usage_json(usage) if usage is not None else None, "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _status(resp: ChatResponse) -> tuple[str, str | None]:
    fr = resp.choices[0].finish_reason if resp.choices else "stop"
    if fr == "length":
        return "incomplete", "max_output_tokens"
    if fr == "content_filter":
        return "incomplete", "content_filter"
    return "completed", None


def encode_response(resp: ChatResponse, req: ChatRequest, rid: str) -> tuple[bytes, dict[str, Any] | None]:
    """The body to send, and the Response object (for the store) when we built it."""
    if resp.raw is not UNSET:
        return resp.raw, None  # type: ignore[return-value]
    status, why = _status(resp)
    obj = response_object(rid, req, resp.model, output_items(resp, req), resp.usage, status, resp.created, why)
    return _encode(obj), obj


class _Events:
    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, kind: str, payload: dict[str, Any]) -> bytes:
        doc = {"type": kind, "sequence_number": self.seq, **payload}
        self.seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + _encode(doc) + b"\n\n"


async def stream_events(chunks: AsyncIterator[ChatChunk], req: ChatRequest, rid: str,
                        done: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    """Responses SSE events from our chunks, or a forwarded stream's own. The final Response object is
    appended to ``done`` (for the store) when it completes."""
    first, it = await first_chunk(chunks)
    if first is not None and first.raw is not UNSET:
        async for ev in _relay(first, it, done):
            yield ev
        return
    ev = _Events()
    model = first.model if first else req.model
    created = int(time.time())
    yield ev("response.created", {"response": response_object(rid, req, model, [], None, "in_progress", created)})
    yield ev("response.in_progress", {"response": response_object(rid, req, model, [], None, "in_progress", created)})
    custom = custom_tools(req)
    output: list[dict[str, Any]] = []
    text_item: dict[str, Any] | None = None
    text: list[str] = []
    calls: dict[int, tuple[int, ToolCall, str]] = {}  # tool index -> (output index, call, item id)
    usage: Usage | None = None
    finish: str | None = None

    def close_text() -> list[bytes]:
        nonlocal text_item
        if text_item is None:
            return []
        whole = "".join(text)
        idx = output.index(text_item)
        item = message_item(whole, text_item["id"])
        output[idx] = item
        part = item["content"][0]
        text_item = None
        return [ev("response.output_text.done", {"item_id": item["id"], "output_index": idx, "content_index": 0,
                                                 "text": whole, "logprobs": []}),
                ev("response.content_part.done", {"item_id": item["id"], "output_index": idx, "content_index": 0,
                                                  "part": part}),
                ev("response.output_item.done", {"output_index": idx, "item": item})]

    try:
        async for chunk in follow(first, it):
            if chunk.usage is not None:
                usage = chunk.usage
            for ch in chunk.choices:
                if ch.index != 0:
                    continue
                d = ch.delta
                if d.content:
                    if text_item is None:
                        text_item = message_item("", new_id("msg"), "in_progress")
                        text_item["content"] = []
                        output.append(text_item)
                        idx = len(output) - 1
                        yield ev("response.output_item.added", {"output_index": idx, "item": text_item})
                        yield ev("response.content_part.added", {
                            "item_id": text_item["id"], "output_index": idx, "content_index": 0,
                            "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}})
                    text.append(d.content)
                    yield ev("response.output_text.delta", {"item_id": text_item["id"],
                                                            "output_index": output.index(text_item),
                                                            "content_index": 0, "delta": d.content, "logprobs": []})
                for tcd in d.tool_calls or ():
                    fn = tcd.function or {}
                    if tcd.index not in calls:
                        for b in close_text():
                            yield b
                        tc = ToolCall(id=tcd.id or new_id("call"), function=FunctionCall(name=fn.get("name", ""), arguments=""))
                        item = call_item(tc, custom, status="in_progress")
                        output.append(item)
                        calls[tcd.index] = (len(output) - 1, tc, item["id"])
                        yield ev("response.output_item.added", {"output_index": len(output) - 1, "item": item})
                    idx, tc, item_id = calls[tcd.index]
                    if fn.get("arguments"):
                        tc.function.arguments += fn["arguments"]
                        if tc.function.name not in custom:  # a custom tool's input arrives whole at the end
                            yield ev("response.function_call_arguments.delta",
                                     {"item_id": item_id, "output_index": idx, "delta": fn["arguments"]})
                if ch.finish_reason is not None:
                    finish = ch.finish_reason
    except TierrouteError as err:
        failed = response_object(rid, req, model, output, usage, "failed", created,
                                 error={"code": "server_error" if err.status >= 500 else err.type,
                                        "message": err.message})
        yield ev("response.failed", {"response": failed})
        return
    for b in close_text():
        yield b
    for idx, tc, item_id in calls.values():
        item = call_item(tc, custom, item_id)
        output[idx] = item
        if item["type"] == "function_call":
            yield ev("response.function_call_arguments.done", {"item_id": item_id, "output_index": idx,
                                                               "arguments": tc.function.arguments})
        yield ev("response.output_item.done", {"output_index": idx, "item": item})
    status, why = ("incomplete", "max_output_tokens") if finish == "length" else ("completed", None)
    final = response_object(rid, req, model, output, usage, status, created, why)
    done.append(final)
    yield ev("response.completed" if status == "completed" else "response.incomplete", {"response": final})


async def _relay(first: ChatChunk, it: AsyncIterator[ChatChunk], done: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    """A forwarded stream: the vendor's own events; the completed Response is kept for the store."""
    seq = 0
    try:
        async for chunk in follow(first, it):
            if chunk.raw is not UNSET:
                raw: bytes = chunk.raw  # type: ignore[assignment]
                if raw.startswith((b"event: response.completed", b"event: response.incomplete")):
                    data = raw.split(b"\ndata: ", 1)[-1]
                    try:
                        doc = _decode(data)
                        done.append(doc.get("response") or {})
                        seq = doc.get("sequence_number", seq)
                    except msgspec.DecodeError:
                        pass
                yield raw
    except TierrouteError as err:
        doc = {"type": "response.failed", "sequence_number": seq + 1,
               "response": {"id": "", "object": "response", "status": "failed",
                            "error": {"code": "server_error", "message": err.message}, "output": []}}
        yield b"event: response.failed\ndata: " + _encode(doc) + b"\n\n"
