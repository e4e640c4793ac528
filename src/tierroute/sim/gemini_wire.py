"""Google's Gemini API: ``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent``
(``?alt=sse``: each ``data:`` is a whole GenerateContentResponse), ``:countTokens``,
``:embedContent``, ``:batchEmbedContents``; ``GET /v1beta/models``. ``/v1/...`` works the same.

The key comes in ``x-goog-api-key`` or ``?key=``. Requests carry ``systemInstruction``,
``contents`` (roles user / model; parts text, inlineData, fileData, functionCall, functionResponse),
``tools[].functionDeclarations``, ``toolConfig`` and ``generationConfig``; camelCase and snake_case
field names are both accepted, as the API accepts both. Answers carry ``usageMetadata`` and
``finishReason`` STOP / MAX_TOKENS / SAFETY. Errors are ``{"error": {"code", "message", "status"}}``;
a 429 says when to retry in a ``google.rpc.RetryInfo`` detail (``retryDelay``), not in a header,
as the API does.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tierroute.sim.answer import Choice, Prompt
from tierroute.sim.wire import (
    Answer,
    Dialect,
    SimError,
    Stream,
    embedding,
    encode,
    pieces,
    seconds_text,
    sse,
    text_of,
)

_FINISH = {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP",
           "content_filter": "SAFETY"}  # fmt: skip
_ERRORS = {  # kind -> (code, status)
    "invalid": (400, "INVALID_ARGUMENT"),
    "context_length": (400, "INVALID_ARGUMENT"),
    "vision": (400, "INVALID_ARGUMENT"),
    "auth_missing": (403, "PERMISSION_DENIED"),
    "auth_invalid": (400, "INVALID_ARGUMENT"),
    "not_found": (404, "NOT_FOUND"),
    "too_large": (400, "INVALID_ARGUMENT"),
    "rate_limit": (429, "RESOURCE_EXHAUSTED"),
    "server": (500, "INTERNAL"),
    "unavailable": (503, "UNAVAILABLE"),
    "overloaded": (503, "UNAVAILABLE"),
}
_MESSAGES = {
    "auth_missing": "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API.",
    "auth_invalid": "API key not valid. Please pass a valid API key.",
    "rate_limit": "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    "server": "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    "unavailable": "The model is overloaded. Please try again later.",
    "overloaded": "The model is overloaded. Please try again later.",
}
_SAFETY = [
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
]


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    value = d.get(camel)
    return d.get(snake) if value is None else value


class GeminiDialect(Dialect):
    name = "gemini"
    stream_content_type = "text/event-stream"
    sse_end = b"\r\n\r\n"
    bad_json_message = "Invalid JSON payload received. Unexpected token."

    def api_key(self, request: web.Request) -> str | None:
        return request.headers.get("x-goog-api-key") or request.query.get("key") or None

    def error(
        self, err: SimError, *, status: int | None = None, retry_after: float | None = None, model: str = ""
    ) -> tuple[int, bytes, dict[str, str]]:
        code, name = _ERRORS[err.kind]
        code = status or code
        body: dict[str, Any] = {"code": code, "message": _MESSAGES.get(err.kind, err.message), "status": name}
        if err.kind == "auth_invalid":
            body["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                "domain": "googleapis.com",
                                "metadata": {"service": "generativelanguage.googleapis.com"}}]  # fmt: skip
        elif err.kind == "rate_limit":
            body["details"] = [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": err.message}]},
                {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                 "retryDelay": seconds_text(retry_after if retry_after is not None else 1.0) + "s"},
            ]  # fmt: skip
        return code, encode({"error": body}), {}

    def stream_error_event(self, model: str) -> bytes:
        return sse(
            {"error": {"code": 500, "message": _MESSAGES["server"], "status": "INTERNAL"}}, end=self.sse_end
        )

    def context_error(self, prompt: Prompt, prompt_tokens: int, window: int) -> SimError | None:
        if prompt_tokens <= window:
            return None
        return SimError(
            "context_length",
            f"The input token count ({prompt_tokens}) exceeds the maximum number of tokens allowed ({window}).",
        )

    def vision_error(self, prompt: Prompt) -> SimError:
        return SimError("vision", f"Image input modality is not enabled for models/{prompt.model}")

    # ------------------------------------------------------------------ generateContent

    def parse(self, model: str, body: Any, *, count_only: bool = False) -> Prompt:
        if not isinstance(body, dict):
            raise SimError("invalid", "Invalid JSON payload received. Expected an object.")
        if count_only and "generateContentRequest" in body:
            body = body["generateContentRequest"] or {}
        contents = body.get("contents")
        if not contents:
            raise SimError("invalid", "* GenerateContentRequest.contents: contents is not specified\n")
        if not isinstance(contents, list):
            raise SimError(
                "invalid", "Invalid value at 'contents', Proto field is not repeating, cannot start list."
            )
        texts = []
        system = _get(body, "systemInstruction", "system_instruction")
        if isinstance(system, dict):
            texts.append(_parts(system.get("parts") or [], "system_instruction")[0])
        question, images, results = "", 0, []
        for i, content in enumerate(contents):
            if not isinstance(content, dict):
                raise SimError("invalid", f"Invalid value at 'contents[{i}]': expected an object")
            role = content.get("role") or "user"
            if role not in ("user", "model", "function"):
                raise SimError("invalid", "Please use a valid role: user, model.")
            text, n_images, result = _parts(content.get("parts") or [], f"contents[{i}].parts")
            texts.append(text)
            images += n_images
            if role != "model":
                if result is not None:  # function responses continue the question asked before
                    results.append(result)
                    question = question or text
                else:
                    question, results = text, []
        config = _get(body, "generationConfig", "generation_config") or {}
        mime = _get(config, "responseMimeType", "response_mime_type")
        schema = _get(config, "responseSchema", "response_schema") or _get(
            config, "responseJsonSchema", "response_json_schema"
        )
        if schema is not None and mime != "application/json":
            raise SimError("invalid", "GenerateContentRequest.generation_config.response_mime_type: must be "
                           "application/json when response_schema is set.\n")  # fmt: skip
        max_tokens = _get(config, "maxOutputTokens", "max_output_tokens")
        n = _get(config, "candidateCount", "candidate_count") or 1
        if not isinstance(n, int) or not 1 <= n <= 8:
            raise SimError("invalid", "Only 1 to 8 candidates can be requested.")
        stop = _get(config, "stopSequences", "stop_sequences") or []
        tools = []
        for tool in body.get("tools") or []:
            for fn in _get(tool, "functionDeclarations", "function_declarations") or []:
                params = fn.get("parameters") or _get(fn, "parametersJsonSchema", "parameters_json_schema")
                tools.append((str(fn.get("name", "")), params or {"type": "object", "properties": {}}))
        fcc = _get(
            _get(body, "toolConfig", "tool_config") or {}, "functionCallingConfig", "function_calling_config"
        )
        fcc = fcc or {}
        mode = str(fcc.get("mode", "AUTO")).upper()
        allowed = _get(fcc, "allowedFunctionNames", "allowed_function_names") or []
        tool_choice = {"NONE": "none", "ANY": "required"}.get(mode, "auto")
        if mode == "ANY" and len(allowed) == 1:
            tool_choice = allowed[0]
        return Prompt(
            model=model,
            text="\n".join(t for t in texts if t),
            question=question,
            images=images,
            tools=tools,
            tool_choice=tool_choice,
            tool_result="\n".join(results) if results else None,
            tool_results=len(results),
            json_mode=mime == "application/json",
            schema=schema,
            max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
            stop=tuple(s for s in stop if isinstance(s, str)),
            n=n,
            seed=config.get("seed") if isinstance(config.get("seed"), int) else None,
        )

    def _usage(self, answer: Answer, final: bool = True) -> dict[str, Any]:
        p = answer.prompt_tokens
        usage: dict[str, Any] = {"promptTokenCount": p}
        if final:
            usage["candidatesTokenCount"] = answer.completion_tokens
        usage["totalTokenCount"] = p + (answer.completion_tokens if final else 0)
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": p}]
        return usage

    def _candidate(
        self, c: Choice, index: int, parts: list[dict[str, Any]] | None, finish: bool
    ) -> dict[str, Any]:
        if c.finish == "content_filter":
            return {"finishReason": "SAFETY", "index": index, "safetyRatings": _SAFETY}
        out: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish:
            out["finishReason"] = _FINISH[c.finish]
        out["index"] = index
        return out

    def _parts(self, c: Choice) -> list[dict[str, Any]]:
        if c.tool_calls:
            return [{"functionCall": {"name": t.name, "args": json.loads(t.arguments)}} for t in c.tool_calls]
        return [{"text": c.text}]

    def render(self, answer: Answer) -> bytes:
        return encode({
            "candidates": [self._candidate(c, i, self._parts(c), True) for i, c in enumerate(answer.choices)],
            "usageMetadata": self._usage(answer),
            "modelVersion": answer.prompt.model,
            "responseId": answer.id,
        })  # fmt: skip

    def stream(self, answer: Answer, chunk_chars: int) -> Stream:
        events: list[bytes] = []
        content: list[bool] = []
        final_at = 0
        last = len(answer.choices) - 1
        for i, c in enumerate(answer.choices):
            if c.tool_calls or c.finish == "content_filter":
                chunks = [self._parts(c)]
            else:
                chunks = [[{"text": piece}] for piece in pieces(c.text, chunk_chars)]
            for k, parts in enumerate(chunks):
                final = k == len(chunks) - 1
                if final and i == last:
                    final_at = len(events)
                data = {"candidates": [self._candidate(c, i, parts, final)],
                        "usageMetadata": self._usage(answer, final and i == last),
                        "modelVersion": answer.prompt.model, "responseId": answer.id}  # fmt: skip
                events.append(sse(data, end=self.sse_end))
                content.append(True)
        return Stream(events, content, final_at)

    def render_count(self, prompt_tokens: int) -> bytes:
        return encode({"totalTokens": prompt_tokens,
                       "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}]})  # fmt: skip

    # ------------------------------------------------------------------ embeddings and models

    def parse_embed(self, body: Any, where: str = "") -> tuple[str, int | None]:
        """One EmbedContentRequest -> (text, outputDimensionality)."""
        if not isinstance(body, dict) or not isinstance(body.get("content"), dict):
            raise SimError("invalid", f"* {where}EmbedContentRequest.content: content is not specified\n")
        text = _parts(body["content"].get("parts") or [], "content.parts")[0]
        if not text:
            raise SimError("invalid", "* EmbedContentRequest.content: contents is not specified\n")
        dims = _get(body, "outputDimensionality", "output_dimensionality")
        return text, dims if isinstance(dims, int) and dims > 0 else None

    def render_embedding(self, text: str, dim: int) -> dict[str, Any]:
        return {"values": embedding(text, dim)}

    def render_models(self, models: list[tuple[str, int, int]]) -> bytes:
        return encode({"models": [self.model_info(*m) for m in models]})

    @staticmethod
    def model_info(name: str, window: int, max_out: int) -> dict[str, Any]:
        return {"name": f"models/{name}", "version": "001", "displayName": name,
                "description": "A model served by the tierroute simulator.", "inputTokenLimit": window,
                "outputTokenLimit": max_out,
                "supportedGenerationMethods": ["generateContent", "countTokens", "embedContent"]}  # fmt: skip


def _parts(parts: Any, where: str) -> tuple[str, int, str | None]:
    """-> (text, images, function response text or None)."""
    if not isinstance(parts, list):
        raise SimError(
            "invalid", f"Invalid value at '{where}', Proto field is not repeating, cannot start list."
        )
    texts, images, results = [], 0, []
    for part in parts:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        blob = _get(part, "inlineData", "inline_data") or _get(part, "fileData", "file_data")
        if isinstance(blob, dict) and str(_get(blob, "mimeType", "mime_type") or "").startswith("image/"):
            images += 1
        response = _get(part, "functionResponse", "function_response")
        if isinstance(response, dict):
            results.append(text_of(response.get("response", {})))
    text = "\n".join(texts + results)
    return text, images, ("\n".join(results) if results else None)
