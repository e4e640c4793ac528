"""Anthropic's Messages API: ``POST /v1/messages`` (and ``/v1/messages/count_tokens``).

Authentication is ``x-api-key`` plus a required ``anthropic-version`` header. ``max_tokens`` is
required; ``system`` is a string or text blocks; content blocks are text, image (base64 or url
source), tool_use and tool_result; tools carry ``input_schema``. Answers are ``message`` objects with
``stop_reason`` end_turn / max_tokens / stop_sequence / tool_use (refusal for a content filter).
Streams are the API's named events: ``message_start``, ``content_block_start``, ``ping``,
``content_block_delta`` (``text_delta`` / ``input_json_delta``), ``content_block_stop``,
``message_delta``, ``message_stop``; a mid-stream failure is ``event: error``. Errors are
``{"type": "error", "error": {"type", "message"}, "request_id"}``; 529 is ``overloaded_error``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from aiohttp import web

from tierroute.sim.answer import Prompt
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
    text_of,
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
_BLOCKS = ("text", "image", "tool_use", "tool_result", "document", "thinking", "redacted_thinking",
           "server_tool_use", "web_search_tool_result", "search_result")  # fmt: skip


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

    def parse(self, body: Any, *, count_only: bool = False) -> tuple[Prompt, bool]:
        """-> (prompt, stream)."""
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

        texts = [_system(body.get("system"))]
        question, images, tool_result = "", 0, None
        for i, m in enumerate(messages):
            role = m.get("role") if isinstance(m, dict) else None
            if role == "system":
                raise SimError(
                    "invalid",
                    'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                    'parameter, not "system" as an input message role.',
                )
            if role not in ("user", "assistant"):
                raise SimError("invalid", f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if "content" not in m:
                raise SimError("invalid", f"messages.{i}.content: Field required")
            text, n_images, result = _content(m["content"], f"messages.{i}.content")
            texts.append(text)
            images += n_images
            if role == "user":
                tool_result = result
                if text or result is None:
                    question = text

        tools = []
        for i, tool in enumerate(body.get("tools") or []):
            if not isinstance(tool, dict) or not tool.get("name"):
                raise SimError("invalid", f"tools.{i}.custom.name: Field required")
            if tool.get("type") not in (None, "custom"):
                continue  # a server tool (web search, ...): the simulator never calls it
            if not isinstance(tool.get("input_schema"), dict):
                raise SimError("invalid", f"tools.{i}.custom.input_schema: Field required")
            tools.append((tool["name"], tool["input_schema"]))
        choice = body.get("tool_choice") or {}
        kind = choice.get("type", "auto") if isinstance(choice, dict) else "auto"
        tool_choice = {"any": "required", "none": "none"}.get(kind, "auto")
        if kind == "tool":
            tool_choice = str(choice.get("name", ""))
        stop = body.get("stop_sequences") or []
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise SimError("invalid", "stop_sequences: Input should be a valid list of strings")
        prompt = Prompt(
            model=model,
            text="\n".join(t for t in texts if t),
            question=question,
            images=images,
            tools=tools,
            tool_choice=tool_choice,
            tool_result=tool_result,
            max_tokens=max_tokens if not count_only else None,
            stop=tuple(stop),
        )
        return prompt, bool(body.get("stream"))

    def _blocks(self, answer: Answer) -> list[dict[str, Any]]:
        c = answer.choices[0]
        blocks: list[dict[str, Any]] = []
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
            "usage": {
                "input_tokens": answer.prompt_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": answer.completion_tokens if final else 1,
                "service_tier": "standard",
            },
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
            else:
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                text, delta = encode(block["input"]).decode(), "input_json_delta"
            events.append(sse({"type": "content_block_start", "index": index, "content_block": start},
                              "content_block_start"))  # fmt: skip
            content.append(False)
            if index == 0:
                events.append(ping)
                content.append(False)
            key = "text" if delta == "text_delta" else "partial_json"
            for piece in pieces(text, chunk_chars):
                events.append(sse({"type": "content_block_delta", "index": index,
                                   "delta": {"type": delta, key: piece}}, "content_block_delta"))  # fmt: skip
                content.append(True)
            events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
            content.append(False)
        if len(events) == 1:
            events.append(ping)
            content.append(False)
        final_at = len(events)
        delta: dict[str, Any] = {"stop_reason": _STOP[c.finish], "stop_sequence": c.stop_sequence}
        if c.finish == "content_filter":
            delta["stop_details"] = {"type": "refusal", "category": None, "explanation": None}
        events.append(sse({"type": "message_delta", "delta": delta,
                           "usage": {"output_tokens": answer.completion_tokens}}, "message_delta"))  # fmt: skip
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


def _system(system: Any) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    if isinstance(system, list):
        return "\n".join(b.get("text", "") for b in system if isinstance(b, dict) and b.get("type") == "text")
    raise SimError("invalid", "system: Input should be a valid string or a list of text blocks")


def _content(content: Any, where: str) -> tuple[str, int, str | None]:
    """-> (text, images, tool result text or None)."""
    if isinstance(content, str):
        return content, 0, None
    if not isinstance(content, list):
        raise SimError("invalid", f"{where}: Input should be a valid string or a list of content blocks")
    texts, images, results = [], 0, []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in _BLOCKS:
            raise SimError("invalid", f"{where}.{j}.type: Input tag '{kind}' found using 'type' does not match "
                           f"any of the expected tags: {', '.join(repr(b) for b in _BLOCKS)}")  # fmt: skip
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "image":
            source = block.get("source")
            if not isinstance(source, dict) or source.get("type") not in ("base64", "url", "file"):
                raise SimError("invalid", f"{where}.{j}.image.source: Input should be a base64 or url source")
            images += 1
        elif kind == "tool_result":
            inner = block.get("content", "")
            if isinstance(inner, list):
                inner_text, inner_images, _ = _content(inner, f"{where}.{j}.content")
                images += inner_images
                results.append(inner_text)
            else:
                results.append(text_of(inner))
    return "\n".join(texts + results), images, ("\n".join(results) if results else None)
