"""OpenAI's wire format: ``POST /v1/chat/completions``, ``POST /v1/embeddings``, ``GET /v1/models``.

Requests are checked the way the API checks them (missing ``messages``, wrong types, ``json_object``
without the word "json", ``stream_options`` without ``stream``) and errors use its JSON shape,
``{"error": {"message", "type", "param", "code"}}``. Answers are ``chat.completion`` objects;
streams are ``chat.completion.chunk`` events ended by ``data: [DONE]``, with a final usage chunk
(``choices: []``) under ``stream_options.include_usage``. A mid-stream failure is a ``data:``
event holding an ``error`` object, as the API sends it. Usage reports automatic prompt caching
(``prompt_tokens_details.cached_tokens``, see ``cache.py``) and, under ``reasoning_effort``, the
hidden reasoning in ``completion_tokens_details.reasoning_tokens``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tierroute.sim import openai_fields as fields
from tierroute.sim.answer import Choice, Prompt, tokens
from tierroute.sim.wire import (
    Answer,
    Dialect,
    Rate,
    SimError,
    Stream,
    embedding,
    embedding_base64,
    encode,
    go_duration,
    new_id,
    pieces,
    seconds_text,
    sse,
)

_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool_calls": "tool_calls",
           "content_filter": "content_filter"}  # fmt: skip
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_STATUS = {"invalid": 400, "context_length": 400, "vision": 400, "auth_missing": 401, "auth_invalid": 401,
           "not_found": 404, "too_large": 413, "rate_limit": 429, "server": 500, "unavailable": 503, "overloaded": 503}  # fmt: skip
_FINGERPRINT = "fp_sim0001"
_DONE = b"data: [DONE]\n\n"


class OpenAIDialect(Dialect):
    name = "openai"
    bad_json_message = (
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
        "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
    )

    def answer_id(self) -> str:
        return f"chatcmpl-{new_id(29)}"

    def request_id(self) -> dict[str, str]:
        return {"x-request-id": f"req_{new_id(32)}"}

    def api_key(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        return (auth[7:].strip() or None) if auth[:7].lower() == "bearer " else None

    # ------------------------------------------------------------------ errors

    def error(
        self, err: SimError, *, status: int | None = None, retry_after: float | None = None, model: str = ""
    ) -> tuple[int, bytes, dict[str, str]]:
        kind, message, code, etype = err.kind, err.message, err.code, "invalid_request_error"
        headers: dict[str, str] = {}
        if kind == "auth_missing":
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "
                "https://platform.openai.com/account/api-keys."
            )
        elif kind == "auth_invalid":
            code = "invalid_api_key"
            message = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
        elif kind == "rate_limit":
            etype, code = "requests", "rate_limit_exceeded"
            wait = retry_after if retry_after is not None else 1.0
            message = (
                f"Rate limit reached for {model} in organization org-sim on requests per min (RPM): "
                f"Limit {err.message}, Used {err.message}, Requested 1. Please try again in {go_duration(wait)}. "
                "Visit https://platform.openai.com/account/rate-limits to learn more."
            )
            headers["retry-after"] = seconds_text(wait)
        elif kind == "server":
            etype, code = "server_error", None
            message = "The server had an error while processing your request. Sorry about that!"
        elif kind in ("unavailable", "overloaded"):
            etype, code = "server_error", None
            message = "The server is overloaded or not ready yet."
        elif kind == "not_found":
            code = code or "model_not_found"
        body = {"error": {"message": message, "type": etype, "param": err.param, "code": code}}
        return status or _STATUS[kind], encode(body), headers

    def stream_error_event(self, model: str) -> bytes:
        err = {"message": "The server had an error while processing your request. Sorry about that!",
               "type": "server_error", "param": None, "code": None}  # fmt: skip
        return sse({"error": err})

    def context_error(self, prompt: Prompt, prompt_tokens: int, window: int) -> SimError | None:
        want = prompt_tokens + (prompt.max_tokens or 0)
        if want <= window:
            return None
        if prompt.max_tokens:
            detail = (
                f"However, you requested {want} tokens ({prompt_tokens} in the messages, {prompt.max_tokens} "
                "in the completion). Please reduce the length of the messages or completion."
            )
        else:
            detail = f"However, your messages resulted in {prompt_tokens} tokens. Please reduce the length of the messages."
        message = f"This model's maximum context length is {window} tokens. {detail}"
        return SimError("context_length", message, param="messages", code="context_length_exceeded")

    def vision_error(self, prompt: Prompt) -> SimError:
        return SimError(
            "vision", "Invalid content type. image_url is only supported by certain models.", param="messages"
        )

    def rate_headers(self, rate: Rate) -> dict[str, str]:
        reset = go_duration(rate.reset_s)
        return {
            "x-ratelimit-limit-requests": str(rate.limit_requests),
            "x-ratelimit-limit-tokens": str(rate.limit_tokens),
            "x-ratelimit-remaining-requests": str(rate.remaining_requests),
            "x-ratelimit-remaining-tokens": str(rate.remaining_tokens),
            "x-ratelimit-reset-requests": reset,
            "x-ratelimit-reset-tokens": reset,
            "openai-version": "2020-10-01",
        }

    # ------------------------------------------------------------------ chat completions

    def parse_chat(self, body: Any) -> tuple[Prompt, bool, bool]:
        """-> (prompt, stream, include_usage)."""
        if not isinstance(body, dict):
            raise SimError("invalid", "Invalid type for body: expected an object.", code="invalid_type")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise SimError("invalid", "you must provide a model parameter")
        messages = fields.required(body, "messages", list, "an array of objects")
        if not messages:
            raise SimError(
                "invalid",
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                param="messages",
                code="empty_array",
            )
        texts: list[str] = []
        question, images, results = "", 0, []
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise fields.type_error(f"messages[{i}]", "an object", m)
            role = m.get("role")
            if role not in _ROLES:
                raise SimError(
                    "invalid",
                    f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
                    param=f"messages[{i}].role",
                    code="invalid_value",
                )
            text, n_images = fields.content(m.get("content"), f"messages[{i}].content")
            images += n_images
            texts.append(text)
            if role == "user":
                question, results = text, []
            elif role in ("tool", "function"):
                results.append(text)
        stream = fields.optional(body, "stream", bool, "a boolean") or False
        options = fields.optional(body, "stream_options", dict, "an object")
        if options is not None and not stream:
            raise SimError(
                "invalid",
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        json_mode, schema = fields.response_format(body, texts)
        prompt = Prompt(
            model=model,
            text="\n".join(texts),
            question=question,
            images=images,
            tools=fields.tools(body),
            tool_choice=fields.tool_choice(body.get("tool_choice")),
            tool_result="\n".join(results) if results else None,
            tool_results=len(results),
            parallel_tools=body.get("parallel_tool_calls") is not False,
            reasoning=_effort(body.get("reasoning_effort")),
            auto_cache=True,
            json_mode=json_mode,
            schema=schema,
            max_tokens=fields.max_tokens(body),
            stop=fields.stop(body),
            n=fields.int_field(body, "n", 1, 128) or 1,
            seed=fields.int_field(body, "seed", None, None),
        )
        return prompt, stream, bool(options and options.get("include_usage"))

    def render(self, answer: Answer) -> bytes:
        strict_refusal = answer.prompt.schema is not None
        return encode(
            {
                "id": answer.id,
                "object": "chat.completion",
                "created": answer.created,
                "model": answer.prompt.model,
                "choices": [
                    {
                        "index": i,
                        "message": _message(c, strict_refusal),
                        "logprobs": None,
                        "finish_reason": _FINISH[c.finish],
                    }
                    for i, c in enumerate(answer.choices)
                ],
                "usage": _usage(answer),
                "service_tier": "default",
                "system_fingerprint": _FINGERPRINT,
            }
        )

    def stream(self, answer: Answer, chunk_chars: int) -> Stream:
        events: list[bytes] = []
        content: list[bool] = []
        strict_refusal = answer.prompt.schema is not None
        base = {"id": answer.id, "object": "chat.completion.chunk", "created": answer.created,
                "model": answer.prompt.model, "service_tier": "default", "system_fingerprint": _FINGERPRINT}  # fmt: skip

        def chunk(
            index: int, delta: dict[str, Any], finish: str | None = None, is_content: bool = False
        ) -> None:
            data = {
                **base,
                "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if answer.include_usage:
                data["usage"] = None
            events.append(sse(data))
            content.append(is_content)

        final_at = 0
        for i, c in enumerate(answer.choices):
            if c.tool_calls:
                for k, call in enumerate(c.tool_calls):
                    head = {"index": k, "id": f"call_{call.id}", "type": "function",
                            "function": {"name": call.name, "arguments": ""}}  # fmt: skip
                    delta = {"role": "assistant", "content": None, "tool_calls": [head], "refusal": None}
                    chunk(i, delta if k == 0 else {"tool_calls": [head]})
                    for piece in pieces(call.arguments, chunk_chars):
                        chunk(
                            i,
                            {"tool_calls": [{"index": k, "function": {"arguments": piece}}]},
                            is_content=True,
                        )
            else:
                chunk(i, {"role": "assistant", "content": "", "refusal": None})
                field = "refusal" if c.refusal and strict_refusal else "content"
                if c.text:
                    for piece in pieces(c.text, chunk_chars):
                        chunk(i, {field: piece}, is_content=True)
            final_at = len(events)
            chunk(i, {}, _FINISH[c.finish])
        if answer.include_usage:
            events.append(sse({**base, "choices": [], "usage": _usage(answer)}))
            content.append(False)
        events.append(_DONE)
        content.append(False)
        return Stream(events, content, final_at)

    # ------------------------------------------------------------------ embeddings and models

    def parse_embeddings(self, body: Any) -> tuple[str, list[str], int, int | None, str]:
        """-> (model, texts, prompt tokens, dimensions, encoding format)."""
        if not isinstance(body, dict):
            raise SimError("invalid", "Invalid type for body: expected an object.", code="invalid_type")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise SimError("invalid", "you must provide a model parameter")
        raw = body.get("input")
        if raw is None:
            raise SimError("invalid", "Missing required parameter: 'input'.", param="input",
                           code="missing_required_parameter")  # fmt: skip
        items = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
        texts, used = [], 0
        for item in items:
            if isinstance(item, str) and item:
                texts.append(item)
                used += tokens(item)
            elif isinstance(item, list) and item and all(isinstance(t, int) for t in item):
                texts.append(" ".join(map(str, item)))
                used += len(item)
            else:
                raise SimError("invalid", "'$.input' is invalid. Please check the API reference: "
                               "https://platform.openai.com/docs/api-reference.", param="input")  # fmt: skip
        dims = fields.int_field(body, "dimensions", 1, 16384)
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise SimError("invalid", f"Invalid value: '{fmt}'. Supported values are: 'float' and 'base64'.",
                           param="encoding_format", code="invalid_value")  # fmt: skip
        return model, texts, used, dims, fmt

    def render_embeddings(self, model: str, texts: list[str], used: int, dim: int, fmt: str) -> bytes:
        vec = embedding_base64 if fmt == "base64" else embedding
        data = [{"object": "embedding", "index": i, "embedding": vec(t, dim)} for i, t in enumerate(texts)]
        return encode({"object": "list", "data": data, "model": model,
                       "usage": {"prompt_tokens": used, "total_tokens": used}})  # fmt: skip

    def render_models(self, names: list[str]) -> bytes:
        data = [
            {"id": n, "object": "model", "created": 1700000000, "owned_by": "tierroute-sim"} for n in names
        ]
        return encode({"object": "list", "data": data})


# ---------------------------------------------------------------------------- answer fields


def _message(c: Choice, strict_refusal: bool) -> dict[str, Any]:
    if c.tool_calls:
        calls = [{"id": f"call_{t.id}", "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
                 for t in c.tool_calls]  # fmt: skip
        return {"role": "assistant", "content": None, "tool_calls": calls, "refusal": None, "annotations": []}
    if c.refusal and strict_refusal:
        return {"role": "assistant", "content": None, "refusal": c.text, "annotations": []}
    return {"role": "assistant", "content": c.text, "refusal": None, "annotations": []}


def _effort(value: Any) -> str | None:
    """``reasoning_effort`` as the answer's thinking (hidden in chat completions, counted in usage)."""
    return value if isinstance(value, str) and value not in ("none", "minimal") else None


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": answer.cache.read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": sum(c.thinking_tokens for c in answer.choices),
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },  # fmt: skip
    }
