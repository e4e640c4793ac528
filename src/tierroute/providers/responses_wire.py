"""OpenAI's Responses API read back into our types, for a Responses request forwarded to a provider
that serves it (``ProviderConfig.responses_api``). The client gets the vendor's own bytes; these
parsed values serve accounting, the cascade checks, the response cache and the response store.

| Responses                          | ours                                                   |
|------------------------------------|--------------------------------------------------------|
| ``message`` / ``output_text``      | the answer's text                                      |
| ``function_call``                  | a tool call                                            |
| ``custom_tool_call``               | a tool call whose arguments are ``{"input": ...}``     |
| ``reasoning`` (encrypted_content)  | ``ThinkingPart`` (origin openai)                       |
| ``status: incomplete``             | finish ``length`` (or ``content_filter``)              |
| ``usage.input_tokens_details.cached_tokens`` | ``prompt_tokens_details.cached_tokens``      |
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from msgspec import UNSET

from tierroute.types import (
    ChatResponse,
    Choice,
    FinishReason,
    FunctionCall,
    PromptTokensDetails,
    ResponseMessage,
    ThinkingPart,
    ToolCall,
    Usage,
)

_encode = msgspec.json.encode


def usage_of(u: Any) -> Usage:
    if not isinstance(u, dict):
        return Usage()
    p, c = u.get("input_tokens") or 0, u.get("output_tokens") or 0
    cached = (u.get("input_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(prompt_tokens=p, completion_tokens=c, total_tokens=u.get("total_tokens") or p + c,
                 prompt_tokens_details=PromptTokensDetails(cached_tokens=cached) if cached else UNSET)


def call_of(item: dict[str, Any]) -> ToolCall | None:
    kind = item.get("type")
    if kind == "function_call":
        args = item.get("arguments")
        return ToolCall(id=item.get("call_id") or item.get("id") or "", function=FunctionCall(
            name=item.get("name") or "", arguments=args if isinstance(args, str) else ""))
    if kind == "custom_tool_call":
        return ToolCall(id=item.get("call_id") or item.get("id") or "", function=FunctionCall(
            name=item.get("name") or "", arguments=_encode({"input": item.get("input") or ""}).decode()))
    return None


def thought_of(item: dict[str, Any]) -> ThinkingPart:
    summary = "\n".join(s.get("text", "") for s in item.get("summary") or () if isinstance(s, dict))
    enc = item.get("encrypted_content")
    return ThinkingPart(thinking=summary, origin="openai", encrypted_content=enc if isinstance(enc, str) else UNSET,
                        item_id=item["id"] if isinstance(item.get("id"), str) else UNSET)


def finish_of(doc: dict[str, Any], has_calls: bool) -> FinishReason:
    if doc.get("status") == "incomplete":
        reason = (doc.get("incomplete_details") or {}).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if has_calls else "stop"


def parse_response(doc: dict[str, Any], model: str) -> ChatResponse:
    texts: list[str] = []
    calls: list[ToolCall] = []
    thoughts: list[ThinkingPart] = []
    for item in doc.get("output") or ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(part.get("text") or "")
        elif kind == "reasoning":
            thoughts.append(thought_of(item))
        elif (call := call_of(item)) is not None:
            calls.append(call)
    return ChatResponse(
        id=doc.get("id") or "", created=int(doc.get("created_at") or time.time()), model=doc.get("model") or model,
        choices=[Choice(index=0, finish_reason=finish_of(doc, bool(calls)), message=ResponseMessage(
            content="".join(texts) if texts else None, tool_calls=calls or None, reasoning=thoughts or UNSET))],
        usage=usage_of(doc.get("usage")))
