"""OpenAI's Responses API: ``POST /v1/responses`` (requests are read by ``responses_parse``).

The answer is a ``response`` object (``resp_...``, ``status`` completed, or incomplete with
``incomplete_details`` for max_output_tokens / content_filter) whose ``output`` holds a
``reasoning`` item when reasoning was asked (its summary when one was asked, its
``encrypted_content`` under ``include: ["reasoning.encrypted_content"]``), then a ``message``
item with ``output_text`` or ``function_call`` / ``custom_tool_call`` items; the request fields
the API repeats are repeated. Usage is input (with cached) and output (with reasoning) tokens.

Streams are named SSE events numbered by ``sequence_number``: response.created, .in_progress,
then per item output_item.added, its parts and deltas (content_part / output_text,
reasoning_summary_part / reasoning_summary_text, function_call_arguments,
custom_tool_call_input) and output_item.done, and last response.completed (or
response.incomplete). A mid-stream failure is an ``error`` event and then ``response.failed``.
Errors before the answer are OpenAI's JSON error bodies.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from tierroute.sim.answer import Choice, Prompt
from tierroute.sim.openai_wire import OpenAIDialect
from tierroute.sim.responses_parse import tools_echo
from tierroute.sim.wire import Answer, SimError, Stream, encode, new_id, pieces, sse

_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
_ENCRYPTED = "reasoning.encrypted_content"


class ResponsesDialect(OpenAIDialect):
    name = "openai_responses"

    def answer_id(self) -> str:
        return f"resp_{new_id(50)}"

    def context_error(self, prompt: Prompt, prompt_tokens: int, window: int) -> SimError | None:
        if prompt_tokens + (prompt.max_tokens or 0) <= window:
            return None
        return SimError("context_length", "Your input exceeds the context window of this model. Please adjust "
                        "your input and try again.", param="input", code="context_length_exceeded")  # fmt: skip

    def vision_error(self, prompt: Prompt) -> SimError:
        return SimError("vision", f"The model {prompt.model} does not support image inputs.", param="input")

    def render(self, answer: Answer) -> bytes:
        return encode(_Build(answer).response(final=True))

    def stream(self, answer: Answer, chunk_chars: int) -> Stream:
        b = _Build(answer)
        out = _Events()
        snapshot = b.response(final=False)
        out.add("response.created", {"response": snapshot})
        out.add("response.in_progress", {"response": snapshot})
        for index, item in enumerate(b.items):
            _stream_item(out, index, item, chunk_chars)
        final_at = len(out.events)
        done = b.response(final=True)
        out.add(
            "response.incomplete" if done["status"] == "incomplete" else "response.completed",
            {"response": done},
        )

        def failure(sent: int) -> bytes:
            err = {"type": "error", "code": "server_error", "message": _SERVER_ERROR, "param": None,
                   "sequence_number": sent}  # fmt: skip
            failed = {
                **snapshot,
                "status": "failed",
                "error": {"code": "server_error", "message": _SERVER_ERROR},
            }
            tail = {"type": "response.failed", "response": failed, "sequence_number": sent + 1}
            return sse(err, "error") + sse(tail, "response.failed")

        return Stream(out.events, out.content, final_at, failure)


class _Events:
    def __init__(self) -> None:
        self.events: list[bytes] = []
        self.content: list[bool] = []

    def add(self, kind: str, data: dict[str, Any], is_content: bool = False) -> None:
        self.events.append(sse({"type": kind, **data, "sequence_number": len(self.events)}, kind))
        self.content.append(is_content)


def _stream_item(out: _Events, index: int, item: dict[str, Any], chunk_chars: int) -> None:
    """One output item's events, from output_item.added to output_item.done."""
    at = {"item_id": item["id"], "output_index": index}
    kind = item["type"]
    if kind == "message":
        out.add("response.output_item.added", {"output_index": index,
                                               "item": {**item, "status": "in_progress", "content": []}})  # fmt: skip
        for c, part in enumerate(item["content"]):
            key = "text" if part["type"] == "output_text" else "refusal"
            empty = {**part, key: ""}
            out.add("response.content_part.added", {**at, "content_index": c, "part": empty})
            delta_kind = "response.output_text" if key == "text" else "response.refusal"
            extra = {"logprobs": []} if key == "text" else {}
            for piece in pieces(part[key], chunk_chars) if part[key] else []:
                out.add(f"{delta_kind}.delta", {**at, "content_index": c, "delta": piece, **extra}, True)
            out.add(f"{delta_kind}.done", {**at, "content_index": c, key: part[key], **extra})
            out.add("response.content_part.done", {**at, "content_index": c, "part": part})
    elif kind == "reasoning":
        out.add("response.output_item.added", {"output_index": index, "item": {**item, "summary": []}})
        for s, part in enumerate(item["summary"]):
            out.add("response.reasoning_summary_part.added",
                    {**at, "summary_index": s, "part": {"type": "summary_text", "text": ""}})  # fmt: skip
            for piece in pieces(part["text"], chunk_chars):
                out.add(
                    "response.reasoning_summary_text.delta", {**at, "summary_index": s, "delta": piece}, True
                )
            out.add("response.reasoning_summary_text.done", {**at, "summary_index": s, "text": part["text"]})
            out.add("response.reasoning_summary_part.done", {**at, "summary_index": s, "part": part})
    else:
        key, event = (
            ("arguments", "function_call_arguments")
            if kind == "function_call"
            else ("input", "custom_tool_call_input")
        )
        out.add("response.output_item.added",
                {"output_index": index, "item": {**item, "status": "in_progress", key: ""}})  # fmt: skip
        for piece in pieces(item[key], chunk_chars):
            out.add(f"response.{event}.delta", {**at, "delta": piece}, True)
        done = {**at, key: item[key]}
        if kind == "function_call":
            done["name"] = item["name"]
        out.add(f"response.{event}.done", done)
    out.add("response.output_item.done", {"output_index": index, "item": item})


class _Build:
    """The output items of one answer (ids fixed once, shared by the stream and the final object)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.choice: Choice = answer.choices[0]
        self.echo = answer.prompt.echo
        self.items = self._items()

    def _items(self) -> list[dict[str, Any]]:
        c, prompt = self.choice, self.answer.prompt
        items: list[dict[str, Any]] = []
        if prompt.reasoning and c.thinking_tokens:
            asked = (self.echo.get("reasoning") or {}).get("summary")
            item: dict[str, Any] = {"id": f"rs_{new_id(50)}", "type": "reasoning",
                                    "summary": [{"type": "summary_text", "text": c.thinking}] if asked else []}  # fmt: skip
            if _ENCRYPTED in (self.echo.get("include") or []):
                item["encrypted_content"] = _encrypted(c.thinking)
            items.append(item)
        for call in c.tool_calls:
            if call.custom:
                items.append({"id": f"ctc_{new_id(50)}", "type": "custom_tool_call", "status": "completed",
                              "call_id": f"call_{call.id[:24]}", "input": call.arguments, "name": call.name})  # fmt: skip
            else:
                items.append({"id": f"fc_{new_id(50)}", "type": "function_call", "status": "completed",
                              "arguments": call.arguments, "call_id": f"call_{call.id[:24]}", "name": call.name})  # fmt: skip
        if not c.tool_calls and c.finish != "content_filter" and (c.text or c.finish != "length"):
            if c.refusal and prompt.schema is not None:
                part: dict[str, Any] = {"type": "refusal", "refusal": c.text}
            else:
                part = {"type": "output_text", "annotations": [], "logprobs": [], "text": c.text}
            status = "incomplete" if c.finish == "length" else "completed"
            items.append({"id": f"msg_{new_id(50)}", "type": "message", "status": status, "content": [part],
                          "role": "assistant"})  # fmt: skip
        return items

    def response(self, final: bool) -> dict[str, Any]:
        a, e, c = self.answer, self.echo, self.choice
        status, incomplete = "in_progress", None
        if final:
            reason = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(c.finish)
            status = "incomplete" if reason else "completed"
            incomplete = {"reason": reason} if reason else None
        reasoning = e.get("reasoning") if isinstance(e.get("reasoning"), dict) else {}
        text = e.get("text") if isinstance(e.get("text"), dict) else {}
        return {
            "id": a.id, "object": "response", "created_at": a.created, "status": status,
            "background": bool(e.get("background", False)), "completed_at": a.created if final else None,
            "error": None, "incomplete_details": incomplete, "instructions": e.get("instructions"),
            "max_output_tokens": e.get("max_output_tokens"), "max_tool_calls": e.get("max_tool_calls"),
            "model": a.prompt.model, "output": self.items if final else [],
            "parallel_tool_calls": e.get("parallel_tool_calls", True),
            "previous_response_id": e.get("previous_response_id"), "prompt_cache_key": e.get("prompt_cache_key"),
            "prompt_cache_retention": e.get("prompt_cache_retention"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "safety_identifier": e.get("safety_identifier"), "service_tier": e.get("service_tier") or "default",
            "store": e.get("store", True), "temperature": e.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": "medium", **text},
            "tool_choice": e.get("tool_choice", "auto"), "tools": tools_echo(e),
            "top_logprobs": e.get("top_logprobs", 0), "top_p": e.get("top_p", 1.0),
            "truncation": e.get("truncation", "disabled"), "usage": self.usage() if final else None,
            "user": e.get("user"), "metadata": e.get("metadata") or {},
        }  # fmt: skip

    def usage(self) -> dict[str, Any]:
        a = self.answer
        reasoning = sum(c.thinking_tokens for c in a.choices)
        return {
            "input_tokens": a.prompt_tokens,
            "input_tokens_details": {"cached_tokens": a.cache.read, "cache_write_tokens": 0},
            "output_tokens": a.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": a.prompt_tokens + a.completion_tokens,
        }


def _encrypted(thinking: str) -> str:
    """Opaque, as the real one is to a client: the same reasoning gives the same blob."""
    digest = hashlib.blake2b(thinking.encode(), digest_size=32).digest()
    return "gAAAAA" + base64.urlsafe_b64encode(digest + thinking.encode()[:96]).decode()
