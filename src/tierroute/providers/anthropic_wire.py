"""OpenAI chat <-> Anthropic Messages, the request and the whole-answer translation.

Choices made where Anthropic has no equivalent (documented for users in the adapter module):
- ``system`` / ``developer`` messages, wherever they sit, become the top-level ``system`` text.
- ``max_tokens`` is required by Anthropic; without one we ask for ``DEFAULT_MAX_TOKENS``.
- ``temperature`` is 0..2 in OpenAI and 0..1 in Anthropic: values above 1 are clamped to 1.
- JSON mode: Anthropic has no JSON switch, so we force a single tool call (``json_answer``, its
  ``input_schema`` the caller's schema, or any object for ``json_object``) and hand the tool's
  input back as the message text: Claude's tool inputs are always a parsed JSON object. When the
  caller brings tools of its own (or a schema whose top level is not an object) we fall back to a
  system instruction and unwrap a Markdown code fence if the model still adds one. We do not
  prefill ``{``: newer Claude models refuse prefill and it breaks tool use.
- ``seed``, penalties and logprobs have no Anthropic counterpart and are dropped.
- ``cache_control`` markers on parts, messages and tools are kept (Anthropic allows at most
  ``MAX_BREAKPOINTS``; the earliest extra ones are dropped and reported). A request with none gets
  tierroute's own (``_place_breakpoints``) when the provider has ``prompt_cache_hints``. Earlier thinking blocks
  written by Anthropic keep their signature; another vendor's reasoning is dropped (and reported).
- ``reasoning`` becomes ``thinking`` (``providers/reasoning.py``); Anthropic refuses a temperature
  other than 1 while thinking, so such a temperature is dropped (and reported).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from msgspec import UNSET

from tierroute.errors import BadRequest
from tierroute.providers.images import split_data_url
from tierroute.providers.reasoning import anthropic_thinking
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

DEFAULT_MAX_TOKENS = 4096
MAX_BREAKPOINTS = 4  # Anthropic's limit on cache_control markers per request
_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
    "max_tokens": "length", "model_context_window_exceeded": "length",
    "tool_use": "tool_calls", "refusal": "content_filter",
}


JSON_TOOL = "json_answer"


def json_tool_schema(req: ChatRequest) -> dict[str, Any] | None:
    """The input schema of the forced JSON tool, or None when JSON mode goes by instruction."""
    rf = req.response_format
    if rf is None or rf.type == "text" or req.tools:
        return None
    if rf.type == "json_schema" and rf.json_schema is not None and rf.json_schema.schema is not None:
        schema = rf.json_schema.schema
        return schema if schema.get("type") == "object" else None
    return {"type": "object"}


def json_instruction(req: ChatRequest) -> str | None:
    rf = req.response_format
    if rf is None or rf.type == "text" or json_tool_schema(req) is not None:
        return None
    text = ("Respond with a single valid JSON object and nothing else: no prose, no Markdown code fence.")
    if rf.type == "json_schema" and rf.json_schema is not None and rf.json_schema.schema is not None:
        text += " The object must conform to this JSON Schema:\n" + _json_encode(rf.json_schema.schema).decode()
    return text


def _marked(block: dict[str, Any], cc: Any) -> dict[str, Any]:
    if cc is not UNSET:
        block["cache_control"] = cc
    return block


def _thinking_block(part: ThinkingPart, dropped: list[str]) -> dict[str, Any] | None:
    if part.origin != "anthropic":  # another vendor's reasoning: Anthropic cannot verify it
        dropped.append("thinking")
        return None
    if part.redacted is not UNSET:
        return {"type": "redacted_thinking", "data": part.redacted}
    block: dict[str, Any] = {"type": "thinking", "thinking": part.thinking}
    if part.signature is not UNSET:
        block["signature"] = part.signature
    return block


def _content_blocks(m: Message, i: int, dep: Deployment, dropped: list[str]) -> list[dict[str, Any]]:
    c = m.content
    if c is None:
        return []
    if isinstance(c, str):
        return [{"type": "text", "text": c}] if c else []
    out: list[dict[str, Any]] = []
    for j, part in enumerate(c):
        if isinstance(part, TextPart):
            if part.text:
                out.append(_marked({"type": "text", "text": part.text}, part.cache_control))
        elif isinstance(part, ImagePart):
            url = part.image_url.url
            if url.startswith("data:"):
                mime, data = split_data_url(url, dep, f"messages[{i}].content[{j}].image_url.url")
                block = {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
            else:
                block = {"type": "image", "source": {"type": "url", "url": url}}
            out.append(_marked(block, part.cache_control))
        elif isinstance(part, ThinkingPart):
            if m.role == "assistant" and (tb := _thinking_block(part, dropped)) is not None:
                out.append(tb)
        elif isinstance(part, OpaquePart):
            if part.origin == "anthropic":
                out.append(part.data)
            else:
                dropped.append(part.kind)
    return out


def _system_blocks(m: Message) -> list[dict[str, Any]]:
    c = m.content
    if isinstance(c, str):
        return [{"type": "text", "text": c}] if c else []
    return [_marked({"type": "text", "text": p.text}, p.cache_control)
            for p in c or () if isinstance(p, TextPart) and p.text]


def _limit_breakpoints(blocks: list[dict[str, Any]], dropped: list[str]) -> None:
    """Keep the last ``MAX_BREAKPOINTS`` markers: the later a breakpoint, the longer the prefix it caches."""
    marked = [b for b in blocks if "cache_control" in b]
    for b in marked[:-MAX_BREAKPOINTS] if len(marked) > MAX_BREAKPOINTS else ():
        del b["cache_control"]
        dropped.append("cache_control (over 4 breakpoints)")


def _messages(req: ChatRequest, dep: Deployment, dropped: list[str]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:  # Anthropic wants strictly alternating turns
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for i, m in enumerate(req.messages):
        if m.role in ("system", "developer"):
            system.extend(_system_blocks(m))
        elif m.role == "user":
            add("user", _content_blocks(m, i, dep, dropped))
        elif m.role == "assistant":
            blocks = [b for t in (m.reasoning if m.reasoning is not UNSET else ())
                      if (b := _thinking_block(t, dropped)) is not None]
            blocks += _content_blocks(m, i, dep, dropped)
            for j, tc in enumerate(m.tool_calls or ()):
                blocks.append({"type": "tool_use", "id": tc.id, "name": tc.function.name,
                               "input": parse_tool_arguments(tc.function.arguments, dep,
                                                    f"messages[{i}].tool_calls[{j}].function.arguments")})
            if blocks:
                _marked(blocks[-1], m.cache_control)
            add("assistant", blocks)
        elif m.role == "tool":
            if not m.tool_call_id:
                raise BadRequest(f"messages[{i}].tool_call_id is required for a tool message",
                                 param=f"messages[{i}].tool_call_id", deployment=dep.id)
            inner: Any = m.content if isinstance(m.content, str) else _content_blocks(m, i, dep, dropped)
            add("user", [_marked({"type": "tool_result", "tool_use_id": m.tool_call_id, "content": inner or ""},
                                 m.cache_control)])
    # Anthropic rejects a final assistant (prefill) turn that ends in whitespace
    if turns and turns[-1]["role"] == "assistant":
        last = turns[-1]["content"][-1]
        if last.get("type") == "text":
            last["text"] = last["text"].rstrip()
            if not last["text"]:
                turns[-1]["content"].pop()
                if not turns[-1]["content"]:
                    turns.pop()
    return system, turns


def _tool_choice(req: ChatRequest) -> dict[str, Any] | None:
    tc = req.tool_choice
    out: dict[str, Any] | None
    if tc is None:
        out = None
    elif isinstance(tc, str):
        out = {"type": {"auto": "auto", "none": "none", "required": "any"}.get(tc, "auto")}
    else:
        name = (tc.get("function") or {}).get("name") if isinstance(tc.get("function"), dict) else tc.get("name")
        out = {"type": "tool", "name": name} if name else {"type": "auto"}
    if req.parallel_tool_calls is False and req.tools:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def _unsigned_tool_turn(turns: list[dict[str, Any]]) -> bool:
    last = next((t for t in reversed(turns) if t["role"] == "assistant"), None)
    if last is None or not any(b.get("type") == "tool_use" for b in last["content"]):
        return False
    return last["content"][0].get("type") not in ("thinking", "redacted_thinking")


def _system_field(system: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if any("cache_control" in b for b in system):
        return system
    return "\n\n".join(b["text"] for b in system)


def build_request(req: ChatRequest, dep: Deployment, stream: bool, dropped: list[str] | None = None
                  ) -> dict[str, Any]:
    dropped = [] if dropped is None else dropped
    system, turns = _messages(req, dep, dropped)
    instr = json_instruction(req)
    if instr:
        system.append({"type": "text", "text": instr})
    max_tokens = req.output_limit() or DEFAULT_MAX_TOKENS
    if dep.max_output and max_tokens > dep.max_output:
        max_tokens = dep.max_output
    body: dict[str, Any] = {
        "model": dep.upstream_model,
        "max_tokens": max_tokens,
        "messages": turns,
    }
    if system:
        body["system"] = _system_field(system)
    if stream:
        body["stream"] = True
    stops = req.stop_list()
    if stops:
        body["stop_sequences"] = stops
    thinking = None
    spec = req.reasoning_spec()
    if spec is not None:
        thinking = anthropic_thinking(spec, max_tokens) if dep.reasoning else None
        if thinking is not None and thinking.get("type") != "disabled" and _unsigned_tool_turn(turns):
            # Anthropic refuses thinking in a tool loop whose last assistant turn does not start with its
            # thinking block, which a client of another dialect may not have kept: think next time.
            thinking = None
        if thinking is not None:
            body["thinking"] = thinking
        elif spec.mode != "disabled":
            dropped.append("reasoning")
    thinking_on = thinking is not None and thinking.get("type") != "disabled"
    if req.temperature is not None:
        if thinking_on and req.temperature != 1:
            dropped.append("temperature (Anthropic thinks at temperature 1)")
        elif not thinking_on:
            body["temperature"] = min(req.temperature, 1.0)
    if req.top_p is not None and not thinking_on:
        body["top_p"] = req.top_p
    if req.top_k is not UNSET:
        body["top_k"] = req.top_k
    if req.tools:
        body["tools"] = [_marked({"name": t.function.name,
                                  **({"description": t.function.description} if t.function.description else {}),
                                  "input_schema": t.function.parameters or {"type": "object", "properties": {}}},
                                 t.cache_control)
                         for t in req.tools]
        tc = _tool_choice(req)
        if tc is not None:
            body["tool_choice"] = tc
    schema = json_tool_schema(req)
    if schema is not None:
        body["tools"] = [{"name": JSON_TOOL, "description": "Give the answer as this JSON object.",
                          "input_schema": schema}]
        body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    if req.user:
        body["metadata"] = {"user_id": req.user}
    blocks = [*body.get("tools", ()), *(system if isinstance(body.get("system"), list) else ()),
              *(b for t in turns for b in t["content"])]
    if dep.cache_hints and not any("cache_control" in b for b in blocks):
        _place_breakpoints(body, system, turns)
    else:
        _limit_breakpoints(blocks, dropped)
    return body


def _place_breakpoints(body: dict[str, Any], system: list[dict[str, Any]], turns: list[dict[str, Any]]) -> None:
    """Cache breakpoints where they pay, for a client that set none (it spoke another dialect): after
    the tools, after the system prompt (tools + system are the same every turn of an agent), and at
    the end of the conversation so far, which the next turn extends and so reads back from the cache.
    Three of Anthropic's four; a prefix below the model's minimum is simply not cached (no charge)."""
    marker = {"type": "ephemeral"}
    if body.get("tools"):
        body["tools"][-1]["cache_control"] = marker
    if system:
        system[-1]["cache_control"] = marker
        body["system"] = system
    if turns and turns[-1]["content"]:
        last = turns[-1]["content"][-1]
        if last.get("type") not in ("thinking", "redacted_thinking"):  # thinking blocks take no marker
            last["cache_control"] = marker


def unfence(text: str) -> str:
    """``\u0060\u0060\u0060json\\n{...}\\n\u0060\u0060\u0060`` -> ``{...}``; anything else unchanged."""
    s = text.strip()
    if s.startswith("```") and s.endswith("```") and s.count("```") == 2:
        inner = s[3:-3]
        nl = inner.find("\n")
        if nl >= 0 and not inner[:nl].strip().startswith(("{", "[")):
            inner = inner[nl + 1 :]
        return inner.strip()
    return text


def usage_of(u: dict[str, Any] | None) -> Usage:
    """Anthropic's usage as ours: ``prompt_tokens`` is every input token (uncached, written to the
    cache and read from it, which Anthropic reports apart), with the cache parts in the details."""
    if not u:
        return Usage()
    write = u.get("cache_creation_input_tokens") or 0
    read = u.get("cache_read_input_tokens") or 0
    split = u.get("cache_creation") if isinstance(u.get("cache_creation"), dict) else {}
    write_1h = split.get("ephemeral_1h_input_tokens") or 0  # type: ignore[union-attr]
    p = (u.get("input_tokens") or 0) + write + read
    c = u.get("output_tokens") or 0
    details = (PromptTokensDetails(cached_tokens=read, cache_write_tokens=write, cache_write_1h_tokens=write_1h)
               if write or read else UNSET)
    return Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c, prompt_tokens_details=details)


def parse_message(doc: dict[str, Any], req: ChatRequest, dep: Deployment, index: int = 0) -> ChatResponse:
    texts: list[str] = []
    calls: list[ToolCall] = []
    thoughts: list[ThinkingPart] = []
    json_mode = json_tool_schema(req) is not None
    json_text: str | None = None
    for block in doc.get("content") or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            sig = block.get("signature")
            thoughts.append(ThinkingPart(thinking=block.get("thinking") or "", origin="anthropic",
                                         signature=sig if isinstance(sig, str) else UNSET))
        elif kind == "redacted_thinking":
            thoughts.append(ThinkingPart(origin="anthropic", redacted=block.get("data") or ""))
        elif kind == "tool_use" and block.get("name") == JSON_TOOL and json_mode:
            json_text = _json_encode(block.get("input") or {}).decode()
        elif kind == "tool_use":
            calls.append(ToolCall(id=block.get("id") or "", function=FunctionCall(
                name=block.get("name") or "", arguments=_json_encode(block.get("input") or {}).decode())))
    if json_text is not None:  # the forced JSON tool's input is the whole answer
        texts = [json_text]
    text = "".join(texts) if texts else None
    if text is not None and req.wants_json():
        text = unfence(text)
    raw = doc.get("stop_reason")
    finish: FinishReason = STOP_REASONS.get(raw, "stop") if raw else ("tool_calls" if calls else "stop")
    if finish == "tool_calls" and not calls:  # the forced JSON tool: to the caller, a plain answer
        finish = "stop"
    stop_seq = doc.get("stop_sequence")
    return ChatResponse(
        id=doc.get("id") or "",
        created=int(time.time()),
        model=doc.get("model") or dep.upstream_model,
        choices=[Choice(index=index, message=ResponseMessage(content=text, tool_calls=calls or None,
                                                             reasoning=thoughts or UNSET),
                        finish_reason=finish)],
        usage=usage_of(doc.get("usage")),
        stop_sequence=stop_seq if isinstance(stop_seq, str) else UNSET,
    )
