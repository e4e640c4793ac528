"""OpenAI chat <-> Gemini generateContent, the request and the answer translation.

Choices where Gemini differs:
- ``system`` / ``developer`` messages become ``systemInstruction``; ``assistant`` is role
  ``model``; a ``tool`` message becomes a ``functionResponse`` part in a user turn, named after
  the function of the assistant tool call it answers (Gemini matches results by name).
- Gemini does not give function calls ids; we make them (``call_<hex>``) unless it sends one.
- An ``http(s)`` image URL becomes ``fileData`` with a MIME type guessed from the URL's extension.
- JSON mode is native: ``responseMimeType: application/json`` plus ``responseSchema``.
- Tool and response schemas are cleaned of JSON Schema keywords Gemini's OpenAPI subset rejects.
- ``reasoning`` becomes ``thinkingConfig`` (``providers/reasoning.py``) for models with the reasoning
  capability. Gemini caches prompt prefixes by itself, so ``cache_control`` markers are dropped;
  so are other vendors' earlier reasoning and content blocks Gemini has no part for. Each is named
  in ``dropped``. ``cachedContentTokenCount`` comes back as the cached part of the prompt.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from msgspec import UNSET

from tierroute.errors import BadRequest, ContentFiltered
from tierroute.providers.images import guess_mime, split_data_url
from tierroute.providers.reasoning import gemini_thinking
from tierroute.providers.tool_args import parse_tool_arguments
from tierroute.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Deployment,
    FinishReason,
    FunctionCall,
    ImagePart,
    Message,
    OpaquePart,
    PromptTokensDetails,
    ResponseMessage,
    TextPart,
    ThinkingPart,
    ToolCall,
    Usage,
)

_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode

FINISH: dict[str, FinishReason] = {
    "STOP": "stop", "MAX_TOKENS": "length",
    "SAFETY": "content_filter", "RECITATION": "content_filter", "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter", "IMAGE_SAFETY": "content_filter",
}
_UNSUPPORTED_SCHEMA_KEYS = {"$schema", "$id", "additionalProperties", "strict", "$defs", "definitions",
                            "examples", "default", "const", "patternProperties", "unevaluatedProperties"}


def finish_reason(raw: str | None, has_calls: bool) -> FinishReason | None:
    if raw is None:
        return None
    fr = FINISH.get(raw, "stop")
    return "tool_calls" if fr == "stop" and has_calls else fr


def clean_schema(schema: Any) -> Any:
    """A JSON Schema with the keywords Gemini's ``Schema`` refuses removed, recursively."""
    if isinstance(schema, dict):
        return {k: clean_schema(v) for k, v in schema.items() if k not in _UNSUPPORTED_SCHEMA_KEYS}
    if isinstance(schema, list):
        return [clean_schema(v) for v in schema]
    return schema


def _parts(m: Message, i: int, dep: Deployment, dropped: list[str]) -> list[dict[str, Any]]:
    c = m.content
    if m.cache_control is not UNSET:
        dropped.append("cache_control")
    if c is None:
        return []
    if isinstance(c, str):
        return [{"text": c}] if c else []
    out: list[dict[str, Any]] = []
    for j, part in enumerate(c):
        if isinstance(part, ThinkingPart):
            dropped.append("thinking")
            continue
        if isinstance(part, OpaquePart):
            dropped.append(part.kind)
            continue
        if part.cache_control is not UNSET:
            dropped.append("cache_control")
        if isinstance(part, TextPart):
            if part.text:
                out.append({"text": part.text})
        elif isinstance(part, ImagePart):
            url = part.image_url.url
            if url.startswith("data:"):
                mime, data = split_data_url(url, dep, f"messages[{i}].content[{j}].image_url.url")
                out.append({"inlineData": {"mimeType": mime, "data": data}})
            else:
                out.append({"fileData": {"mimeType": guess_mime(url), "fileUri": url}})
    return out


def _contents(req: ChatRequest, dep: Deployment, dropped: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for i, m in enumerate(req.messages):
        if m.role in ("system", "developer"):
            t = m.text()
            if t:
                system.append(t)
        elif m.role == "user":
            add("user", _parts(m, i, dep, dropped))
        elif m.role == "assistant":
            if m.reasoning is not UNSET and m.reasoning:
                dropped.append("thinking")
            parts = _parts(m, i, dep, dropped)
            for j, tc in enumerate(m.tool_calls or ()):
                call_names[tc.id] = tc.function.name
                parts.append({"functionCall": {"name": tc.function.name, "args": parse_tool_arguments(
                    tc.function.arguments, dep, f"messages[{i}].tool_calls[{j}].function.arguments")}})
            add("model", parts)
        elif m.role == "tool":
            name = call_names.get(m.tool_call_id or "") or m.name
            if not name:
                raise BadRequest(f"messages[{i}].tool_call_id does not match any earlier assistant tool call",
                                 param=f"messages[{i}].tool_call_id", deployment=dep.id)
            if m.has_image():
                dropped.append("tool_result images")
            add("user", [{"functionResponse": {"name": name, "response": {"content": m.text()}}}])
    return system, contents


def _tool_config(req: ChatRequest) -> dict[str, Any] | None:
    tc = req.tool_choice
    if tc is None:
        return None
    if isinstance(tc, str):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(tc, "AUTO")
        return {"functionCallingConfig": {"mode": mode}}
    fn = tc.get("function")
    name = fn.get("name") if isinstance(fn, dict) else tc.get("name")
    if not name:
        return {"functionCallingConfig": {"mode": "AUTO"}}
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def build_request(req: ChatRequest, dep: Deployment, dropped: list[str] | None = None) -> dict[str, Any]:
    dropped = [] if dropped is None else dropped
    system, contents = _contents(req, dep, dropped)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    gc: dict[str, Any] = {}
    if req.output_limit():
        limit = req.output_limit() or 0
        gc["maxOutputTokens"] = min(limit, dep.max_output) if dep.max_output else limit
    stops = req.stop_list()
    if stops:
        gc["stopSequences"] = stops
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("seed", "seed"),
                         ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        v = getattr(req, ours)
        if v is not None:
            gc[theirs] = v
    if req.n and req.n > 1:
        gc["candidateCount"] = req.n
    if req.top_k is not UNSET:
        gc["topK"] = req.top_k
    spec = req.reasoning_spec()
    if spec is not None:
        if dep.reasoning:
            gc["thinkingConfig"] = gemini_thinking(spec)
        elif spec.mode != "disabled":
            dropped.append("reasoning")
    rf = req.response_format
    if rf is not None and rf.type != "text":
        gc["responseMimeType"] = "application/json"
        if rf.type == "json_schema" and rf.json_schema is not None and rf.json_schema.schema is not None:
            gc["responseSchema"] = clean_schema(rf.json_schema.schema)
    if gc:
        body["generationConfig"] = gc
    if req.tools:
        decls = []
        for t in req.tools:
            if t.cache_control is not UNSET:
                dropped.append("cache_control")
            d: dict[str, Any] = {"name": t.function.name}
            if t.function.description:
                d["description"] = t.function.description
            if t.function.parameters and t.function.parameters.get("properties"):
                d["parameters"] = clean_schema(t.function.parameters)
            decls.append(d)
        body["tools"] = [{"functionDeclarations": decls}]
        tc = _tool_config(req)
        if tc is not None:
            body["toolConfig"] = tc
    return body


def usage_of(u: dict[str, Any] | None) -> Usage:
    if not u:
        return Usage()
    p = u.get("promptTokenCount") or 0
    c = (u.get("candidatesTokenCount") or 0) + (u.get("thoughtsTokenCount") or 0)
    cached = u.get("cachedContentTokenCount") or 0  # implicit or explicit context caching: part of the prompt
    return Usage(prompt_tokens=p, completion_tokens=c, total_tokens=u.get("totalTokenCount") or p + c,
                 prompt_tokens_details=PromptTokensDetails(cached_tokens=cached) if cached else UNSET)


def candidate_parts(cand: dict[str, Any]) -> tuple[str | None, list[ToolCall]]:
    """(text, tool calls) of one candidate; thought parts are not part of the answer."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in (cand.get("content") or {}).get("parts") or ():
        if not isinstance(part, dict) or part.get("thought"):
            continue
        if "text" in part:
            texts.append(part["text"] or "")
        elif "functionCall" in part:
            fc = part["functionCall"] or {}
            calls.append(ToolCall(id=fc.get("id") or "call_" + uuid.uuid4().hex[:24], function=FunctionCall(
                name=fc.get("name") or "", arguments=_json_encode(fc.get("args") or {}).decode())))
    return ("".join(texts) if texts else None), calls


def check_prompt_blocked(doc: dict[str, Any], dep: Deployment, status: int) -> None:
    reason = (doc.get("promptFeedback") or {}).get("blockReason")
    if reason and not doc.get("candidates"):
        raise ContentFiltered(f"{dep.id}: the prompt was blocked by the vendor ({reason})",
                              deployment=dep.id, upstream_status=status)


def parse_response(doc: dict[str, Any], dep: Deployment, status: int) -> ChatResponse:
    check_prompt_blocked(doc, dep, status)
    choices = []
    for i, cand in enumerate(doc.get("candidates") or ()):
        text, calls = candidate_parts(cand)
        choices.append(Choice(
            index=cand.get("index", i),
            message=ResponseMessage(content=text, tool_calls=calls or None),
            finish_reason=finish_reason(cand.get("finishReason"), bool(calls)) or "stop",
        ))
    return ChatResponse(
        id=doc.get("responseId") or "chatcmpl-" + uuid.uuid4().hex[:24],
        created=int(time.time()),
        model=doc.get("modelVersion") or dep.upstream_model,
        choices=choices,
        usage=usage_of(doc.get("usageMetadata")),
    )
