"""Anthropic's Messages API: ``POST /v1/messages`` (and ``/v1/messages/count_tokens``).

Authentication is ``x-api-key`` (or a bearer token) plus a required ``anthropic-version`` header;
requests are read by ``anthropic_parse``. Answers are ``message`` objects with ``stop_reason``
end_turn / max_tokens / stop_sequence / tool_use (refusal for a content filter), a ``thinking``
block (with its ``signature``) first when thinking was asked, and usage with input, cache-write
(by TTL in ``cache_creation``), cache-read and output tokens apart. Streams are the API's named
events: ``message_start`` (usage so far), ``content_block_start``, ``ping``,
``content_block_delta`` (``thinking_delta`` then ``signature_delta``, ``text_delta``,
``input_json_delta``), ``content_block_stop``, ``message_delta`` (the final usage),
``message_stop``; a mid-stream failure is ``event: error``. Errors are
``{"type": "error", "error": {"type", "message"}, "request_id"}``; 529 is ``overloaded_error``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

from aiohttp import web

from tierroute.sim.answer import Prompt
from tierroute.sim.anthropic_parse import parse
from tierroute.sim.wire import (
    Answer,
    Dialect,
    Rate,
    SimError,
    Stream,
    encode,
    new_id,
    pieces,
    seconds_text,
    sse,
)

_STOP = {"stop": "end_turn", "stop_sequence": "stop_sequence", "length": "max_tokens", "tool_calls": "tool_use",
         "content_filter": "refusal"}  # fmt: skip
_ERRORS = {  # kind -> (status, error type)
    "invalid": (400, "invalid_request_error"),
    "context_length": (400, "invalid_request_error"),
    "vision": (400, "invalid_request_error"),
    "auth_missing": (401, "authentication_error"),
    "auth_invalid": (401, "authentication_error"),
    "not_found": (404, "not_found_error"),
    "too_large": (413, "request_too_large"),
    "rate_limit": (429, "rate_limit_error"),
    "server": (500, "api_error"),
    "unavailable": (503, "api_error"),
    "overloaded": (529, "overloaded_error"),
}
_MESSAGES = {
    "server": "Internal server error",
    "unavailable": "Service unavailable",
    "overloaded": "Overloaded",
}


class AnthropicDialect(Dialect):
    name = "anthropic"
    bad_json_message = "There was an error parsing the body of your request."

    def answer_id(self) -> str:
        return f"msg_01{new_id(22)}"

    def request_id(self) -> dict[str, str]:
        return {"request-id": f"req_011{new_id(21)}"}

    def api_key(self, request: web.Request) -> str | None:
        key = request.headers.get("x-api-key")
        if key:
            return key
        auth = request.headers.get("Authorization", "")  # the SDK (2.x) sends its key as a bearer token
        return (auth[7:].strip() or None) if auth[:7].lower() == "bearer " else None

    def check_headers(self, request: web.Request) -> None:
        if not request.headers.get("anthropic-version"):
            raise SimError("invalid", "anthropic-version: header is required")

    def error(
        self, err: SimError, *, status: int | None = None, retry_after: float | None = None, model: str = ""
    ) -> tuple[int, bytes, dict[str, str]]:
        code, etype = _ERRORS[err.kind]
        message = err.message
        headers: dict[str, str] = {}
        if err.kind == "auth_missing":
            message = "x-api-key header is required"
        elif err.kind == "auth_invalid":
            message = "invalid x-api-key"
        elif err.kind == "rate_limit":
            message = (
                "This request would exceed the rate limit for your organization of "
                f"{err.message} requests per minute. For details, refer to: "
                "https://docs.claude.com/en/api/rate-limits. You can see the response headers for current "
                "usage. Please reduce the prompt length or the maximum tokens requested, or try again later."
            )
            headers["retry-after"] = seconds_text(retry_after if retry_after is not None else 1.0)
        elif err.kind in _MESSAGES:
            message = _MESSAGES[err.kind]
        rid = f"req_011{new_id(21)}"
        headers["request-id"] = rid
        body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": rid}
        return status or code, encode(body), headers

    def stream_error_event(self, model: str) -> bytes:
        return sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")

    def fault_error(self, kind: str, model: str) -> SimError:
        if kind == "stream_error":
            return SimError("overloaded", "overloaded")
        return super().fault_error(kind, model)

    def context_error(self, prompt: Prompt, prompt_tokens: int, window: int) -> SimError | None:
        if prompt_tokens <= window:
            return None
        return SimError("context_length", f"prompt is too long: {prompt_tokens} tokens > {window} maximum")

    def vision_error(self, prompt: Prompt) -> SimError:
        return SimError("vision", f"{prompt.model} does not support image input.")

    def rate_headers(self, rate: Rate) -> dict[str, str]:
        reset = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=rate.reset_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
        req, tok = str(rate.remaining_requests), str(rate.remaining_tokens)
        limit_req, limit_tok = str(rate.limit_requests), str(rate.limit_tokens)
        headers = {
            "anthropic-ratelimit-requests-limit": limit_req,
            "anthropic-ratelimit-requests-remaining": req,
            "anthropic-ratelimit-requests-reset": reset,
        }
        for name in ("tokens", "input-tokens", "output-tokens"):
            headers[f"anthropic-ratelimit-{name}-limit"] = limit_tok
            headers[f"anthropic-ratelimit-{name}-remaining"] = tok
            headers[f"anthropic-ratelimit-{name}-reset"] = reset
        return headers

    # ------------------------------------------------------------------ messages

    def parse(self, body: Any, *, count_only: bool = False, beta: bool = False) -> tuple[Prompt, bool]:
        """-> (prompt, stream); see ``anthropic_parse``."""
        return parse(body, count_only=count_only, beta=beta)

    def _blocks(self, answer: Answer) -> list[dict[str, Any]]:
        c = answer.choices[0]
        blocks: list[dict[str, Any]] = []
        if answer.prompt.reasoning and c.thinking:
            shown = "" if answer.prompt.hidden_thinking else c.thinking
            blocks.append({"type": "thinking", "thinking": shown, "signature": _signature(c.thinking)})
        if c.tool_calls:
            if answer.prompt.tool_choice == "auto":  # a forced tool_choice gets no text before tool_use
                blocks.append({"type": "text", "text": _tool_preamble(c.tool_calls[0].name)})
            for call in c.tool_calls:
                blocks.append({"type": "tool_use", "id": f"toolu_01{call.id[:22]}", "name": call.name,
                               "input": json.loads(call.arguments)})  # fmt: skip
        elif c.text:
            blocks.append({"type": "text", "text": c.text})
        return blocks

    def _message(self, answer: Answer, content: list[dict[str, Any]], final: bool) -> dict[str, Any]:
        c = answer.choices[0]
        message = {
            "id": answer.id,
            "type": "message",
            "role": "assistant",
            "model": answer.prompt.model,
            "content": content,
            "stop_reason": _STOP[c.finish] if final else None,
            "stop_sequence": c.stop_sequence if final else None,
            "usage": _usage(answer, answer.completion_tokens if final else 1),
        }
        if final and c.finish == "content_filter":
            message["stop_details"] = {"type": "refusal", "category": None, "explanation": None}
        return message

    def render(self, answer: Answer) -> bytes:
        return encode(self._message(answer, self._blocks(answer), final=True))

    def stream(self, answer: Answer, chunk_chars: int) -> Stream:
        c = answer.choices[0]
        events = [
            sse({"type": "message_start", "message": self._message(answer, [], final=False)}, "message_start")
        ]
        content = [False]
        ping = sse({"type": "ping"}, "ping")
        for index, block in enumerate(self._blocks(answer)):
            if block["type"] == "text":
                start, text, delta = {"type": "text", "text": ""}, block["text"], "text_delta"
            elif block["type"] == "thinking":
                start, text, delta = (
                    {"type": "thinking", "thinking": "", "signature": ""},
                    block["thinking"],
                    "thinking_delta",
                )
            else:
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                text, delta = encode(block["input"]).decode(), "input_json_delta"
            events.append(sse({"type": "content_block_start", "index": index, "content_block": start},
                              "content_block_start"))  # fmt: skip
            content.append(False)
            if index == 0:
                events.append(ping)
                content.append(False)
            key = {"text_delta": "text", "thinking_delta": "thinking"}.get(delta, "partial_json")
            for piece in pieces(text, chunk_chars) if text or delta != "thinking_delta" else []:
                events.append(sse({"type": "content_block_delta", "index": index,
                                   "delta": {"type": delta, key: piece}}, "content_block_delta"))  # fmt: skip
                content.append(True)
            if block["type"] == "thinking":  # the signature comes last, just before the block stops
                events.append(sse({"type": "content_block_delta", "index": index, "delta": {
                    "type": "signature_delta", "signature": block["signature"]}}, "content_block_delta"))  # fmt: skip
                content.append(False)
            events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
            content.append(False)
        if len(events) == 1:
            events.append(ping)
            content.append(False)
        final_at = len(events)
        delta: dict[str, Any] = {"stop_reason": _STOP[c.finish], "stop_sequence": c.stop_sequence}
        if c.finish == "content_filter":
            delta["stop_details"] = {"type": "refusal", "category": None, "explanation": None}
        usage = _usage(answer, answer.completion_tokens)
        del usage["cache_creation"], usage["service_tier"]  # message_delta's usage: the cumulative counts
        events.append(sse({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta"))
        events.append(sse({"type": "message_stop"}, "message_stop"))
        content += [False, False]
        return Stream(events, content, final_at)

    def render_count(self, prompt_tokens: int) -> bytes:
        return encode({"input_tokens": prompt_tokens})

    def render_models(self, names: list[str]) -> bytes:
        data = [
            {"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"} for n in names
        ]
        return encode({"data": data, "has_more": False, "first_id": names[0] if names else None,
                       "last_id": names[-1] if names else None})  # fmt: skip


def _tool_preamble(name: str) -> str:
    return f"I'll use the {name} tool."


def _signature(thinking: str) -> str:
    """An opaque signature, as long as a real one, the same for the same thinking."""
    digest = hashlib.blake2b(thinking.encode(), digest_size=48).digest()
    return "Er" + base64.b64encode(digest * 4).decode()


def _usage(answer: Answer, output_tokens: int) -> dict[str, Any]:
    cache = answer.cache
    return {
        "input_tokens": max(0, answer.prompt_tokens - cache.read - cache.created),
        "cache_creation_input_tokens": cache.created,
        "cache_read_input_tokens": cache.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache.created_5m,
            "ephemeral_1h_input_tokens": cache.created_1h,
        },  # fmt: skip
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
