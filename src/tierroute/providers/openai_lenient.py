"""What OpenAI-compatible vendors actually send, decoded leniently and normalised to our types.

Vendors that speak "OpenAI" differ in the details: DeepSeek and OpenRouter add fields, Ollama
omits ``created`` and answers tool arguments as an object, some send ``usage: null``, Mistral may
send content as a list of parts, and finish reasons range from ``eos`` to ``end_turn``. Every
field here is optional and typed loosely; ``normalise_*`` turn them into strict ``ChatResponse``
/ ``ChatChunk`` values so nothing above the adapter sees the variation.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from msgspec import UNSET, Struct

from tierroute.types import (
    ChatChunk,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    FinishReason,
    FunctionCall,
    PromptTokensDetails,
    ResponseMessage,
    ToolCall,
    ToolCallDelta,
    Usage,
)

_FINISH: dict[str, FinishReason] = {
    "stop": "stop", "eos": "stop", "end_turn": "stop", "stop_sequence": "stop", "eos_token": "stop",
    "length": "length", "max_tokens": "length", "model_length": "length",
    "tool_calls": "tool_calls", "function_call": "tool_calls", "tool_use": "tool_calls",
    "content_filter": "content_filter", "safety": "content_filter", "refusal": "content_filter",
}

_encode = msgspec.json.encode


def finish_reason(raw: str | None) -> FinishReason | None:
    """An OpenAI finish reason; anything unknown but present counts as a normal stop."""
    if raw is None:
        return None
    return _FINISH.get(raw.lower(), "stop")


class LUsage(Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: dict[str, Any] | None = None  # OpenAI: cached_tokens (OpenRouter: cache_write_tokens)
    prompt_cache_hit_tokens: int | None = None  # DeepSeek's name for the cached part of the prompt

    def normal(self) -> Usage:
        p, c = self.prompt_tokens or 0, self.completion_tokens or 0
        d = self.prompt_tokens_details or {}
        read = d.get("cached_tokens") or self.prompt_cache_hit_tokens or 0
        write = d.get("cache_write_tokens") or 0
        details = (PromptTokensDetails(cached_tokens=int(read), cache_write_tokens=int(write))
                   if read or write else UNSET)
        return Usage(prompt_tokens=p, completion_tokens=c, total_tokens=self.total_tokens or p + c,
                     prompt_tokens_details=details)


class LFunction(Struct):
    name: str | None = None
    arguments: str | dict[str, Any] | list[Any] | None = None


class LToolCall(Struct):
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: LFunction | None = None


def _args(a: str | dict[str, Any] | list[Any] | None) -> str | None:
    if a is None or isinstance(a, str):
        return a
    return _encode(a).decode()


def _text(c: str | list[Any] | None) -> str | None:
    if c is None or isinstance(c, str):
        return c
    parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in c
             if not isinstance(p, dict) or p.get("type", "text") == "text"]
    return "".join(parts)


class LMessage(Struct):
    content: str | list[Any] | None = None
    tool_calls: list[LToolCall] | None = None
    refusal: str | None = None


class LChoice(Struct):
    index: int | None = None
    message: LMessage | None = None
    finish_reason: str | None = None
    logprobs: Any = None


class LResponse(Struct):
    id: str | None = None
    created: int | float | None = None
    model: str | None = None
    choices: list[LChoice] | None = None
    usage: LUsage | None = None
    system_fingerprint: str | None = None
    error: Any = None


class LDelta(Struct):
    role: str | None = None
    content: str | list[Any] | None = None
    tool_calls: list[LToolCall] | None = None
    refusal: str | None = None


class LChunkChoice(Struct):
    index: int | None = None
    delta: LDelta | None = None
    finish_reason: str | None = None
    logprobs: Any = None


class LChunk(Struct):
    id: str | None = None
    created: int | float | None = None
    model: str | None = None
    choices: list[LChunkChoice] | None = None
    usage: LUsage | None = None
    system_fingerprint: str | None = None
    error: Any = None


response_decoder = msgspec.json.Decoder(LResponse)
chunk_decoder = msgspec.json.Decoder(LChunk)


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def _tool_calls(calls: list[LToolCall] | None) -> list[ToolCall] | None:
    if not calls:
        return None
    out = []
    for tc in calls:
        fn = tc.function or LFunction()
        out.append(ToolCall(id=tc.id or f"call_{uuid.uuid4().hex[:24]}",
                            function=FunctionCall(name=fn.name or "", arguments=_args(fn.arguments) or "")))
    return out


def normalise_response(r: LResponse, model: str) -> ChatResponse:
    choices = []
    for i, ch in enumerate(r.choices or ()):
        m = ch.message or LMessage()
        calls = _tool_calls(m.tool_calls)
        fr = finish_reason(ch.finish_reason)
        if fr is None:
            fr = "tool_calls" if calls else "stop"
        choices.append(Choice(
            index=ch.index if ch.index is not None else i,
            message=ResponseMessage(content=_text(m.content), tool_calls=calls, refusal=m.refusal),
            finish_reason=fr,
            logprobs=ch.logprobs,
        ))
    return ChatResponse(
        id=r.id or new_id(),
        created=int(r.created) if r.created is not None else int(time.time()),
        model=r.model or model,
        choices=choices,
        usage=r.usage.normal() if r.usage is not None else Usage(),
        system_fingerprint=r.system_fingerprint,
    )


def _tool_deltas(calls: list[LToolCall]) -> list[ToolCallDelta]:
    out = []
    for i, tc in enumerate(calls):
        fn: dict[str, str] | None = None
        if tc.function is not None:
            fn = {}
            if tc.function.name is not None:
                fn["name"] = tc.function.name
            args = _args(tc.function.arguments)
            if args is not None:
                fn["arguments"] = args
        out.append(ToolCallDelta(index=tc.index if tc.index is not None else i, id=tc.id,
                                 type="function" if (tc.id or tc.type) else None, function=fn))
    return out


def normalise_chunk(c: LChunk, model: str, fallback_id: str, created: int) -> ChatChunk:
    choices = []
    for i, ch in enumerate(c.choices or ()):
        d = ch.delta or LDelta()
        choices.append(ChunkChoice(
            index=ch.index if ch.index is not None else i,
            delta=Delta(
                role="assistant" if d.role == "assistant" else None,
                content=_text(d.content),
                tool_calls=_tool_deltas(d.tool_calls) if d.tool_calls else None,
                refusal=d.refusal,
            ),
            finish_reason=finish_reason(ch.finish_reason),
            logprobs=ch.logprobs,
        ))
    return ChatChunk(
        id=c.id or fallback_id,
        created=int(c.created) if c.created is not None else created,
        model=c.model or model,
        choices=choices,
        usage=c.usage.normal() if c.usage is not None else None,
        system_fingerprint=c.system_fingerprint,
    )
