"""An OpenAI Responses request (``POST /v1/responses``) read into a ``Prompt``.

``input`` is a string or a list of items: messages (role user / assistant / system / developer,
content a string or parts ``input_text`` / ``output_text`` / ``input_image`` / ``input_file`` /
``refusal``), ``function_call`` / ``function_call_output``, ``custom_tool_call`` /
``custom_tool_call_output``, ``reasoning`` (with ``encrypted_content``), and every other item type
the API knows, accepted and not read. ``instructions`` comes first in the prompt. Tools are
function tools (``name``, ``parameters``, ``strict``), custom (freeform) tools, and built-in or
future types, which are accepted and never called. Unknown request fields are ignored, never
refused; what the API checks (types, ``max_output_tokens`` >= 16, json_object without "json",
a function tool without a name) gets the API's error.
"""

from __future__ import annotations

from typing import Any

from tierroute.sim import openai_fields as fields
from tierroute.sim.answer import Prompt
from tierroute.sim.wire import SimError, text_of

_ROLES = ("user", "assistant", "system", "developer")
_PARTS = ("input_text", "output_text", "input_image", "input_file", "input_audio", "refusal", "text",
          "summary_text", "reasoning_text")  # fmt: skip
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def parse(body: Any) -> tuple[Prompt, bool, bool]:
    """-> (prompt, stream, include_usage). Raises ``SimError`` for what the API refuses."""
    if not isinstance(body, dict):
        raise SimError("invalid", "Invalid type for body: expected an object.", code="invalid_type")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise SimError("invalid", "Missing required parameter: 'model'.", param="model",
                       code="missing_required_parameter")  # fmt: skip
    instructions = fields.optional(body, "instructions", str, "a string")
    texts = [instructions] if instructions else []
    question, images, results = "", 0, []
    raw = body.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
    if items is not None and not isinstance(items, list):
        raise fields.type_error("input", "one of a string or an array of input items", items)
    for i, item in enumerate(items or []):
        if not isinstance(item, dict):
            raise fields.type_error(f"input[{i}]", "an object", item)
        kind = str(item.get("type", "message"))
        if kind == "message":
            role = item.get("role")
            if role not in _ROLES:
                raise SimError("invalid", f"Invalid value: '{role}'. Supported values are: 'user', 'assistant', "
                               "'system', and 'developer'.", param=f"input[{i}].role", code="invalid_value")  # fmt: skip
            text, n = _content(item.get("content"), f"input[{i}].content")
            texts.append(text)
            images += n
            if role == "user":
                question, results = text, []
        elif kind in ("function_call_output", "custom_tool_call_output") or kind.endswith("_call_output"):
            output = item.get("output", "")
            text = _content(output, f"input[{i}].output")[0] if isinstance(output, list) else text_of(output)
            texts.append(text)
            results.append(text)
    json_mode, schema = _text_format(body, texts)
    tools, custom = _tools(body)
    reasoning = fields.optional(body, "reasoning", dict, "an object") or {}
    effort = reasoning.get("effort")
    if effort is not None and effort not in _EFFORTS:
        raise SimError("invalid", f"Invalid value: '{effort}'. Supported values are: 'none', 'minimal', 'low', "
                       "'medium', 'high', and 'xhigh'.", param="reasoning.effort", code="invalid_value")  # fmt: skip
    reason = None if effort in (None, "none", "minimal") else effort
    if effort is None and reasoning.get("summary"):
        reason = "medium"  # a summary asked without an effort: the model's default effort
    stream = fields.optional(body, "stream", bool, "a boolean") or False
    key = body.get("prompt_cache_key")
    prompt = Prompt(
        model=model,
        text="\n".join(t for t in texts if t),
        question=question,
        images=images,
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        tool_result="\n".join(results) if results else None,
        tool_results=len(results),
        parallel_tools=body.get("parallel_tool_calls") is not False,
        custom_tools=frozenset(custom),
        json_mode=json_mode,
        schema=schema,
        max_tokens=fields.int_field(body, "max_output_tokens", 16, None),
        reasoning=reason,
        auto_cache=True,
        cache_salt=key if isinstance(key, str) else "",
        echo=body,
    )
    return prompt, stream, True


def _content(content: Any, param: str) -> tuple[str, int]:
    if content is None or isinstance(content, str):
        return content or "", 0
    if not isinstance(content, list):
        raise fields.type_error(param, "one of a string or an array of input content parts", content)
    texts, images = [], 0
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _PARTS:
            raise SimError("invalid", f"Invalid value: '{kind}'. Supported values are: 'input_text', "
                           "'input_image', 'input_file', 'output_text', and 'refusal'.",
                           param=f"{param}[{j}].type", code="invalid_value")  # fmt: skip
        if kind == "input_image":
            images += 1
        elif kind == "refusal":
            texts.append(str(part.get("refusal", "")))
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    return "\n".join(texts), images


def _tools(body: dict[str, Any]) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """-> (callable tools with their schemas, the names of the custom ones)."""
    out, custom = [], []
    for i, tool in enumerate(fields.optional(body, "tools", list, "an array of objects") or []):
        if not isinstance(tool, dict):
            raise fields.type_error(f"tools[{i}]", "an object", tool)
        kind = tool.get("type")
        if kind in ("function", "custom"):
            name = tool.get("name")
            if not isinstance(name, str) or not name:
                raise SimError("invalid", f"Missing required parameter: 'tools[{i}].name'.",
                               param=f"tools[{i}].name", code="missing_required_parameter")  # fmt: skip
            if kind == "custom":
                custom.append(name)
            out.append((name, tool.get("parameters") or {"type": "object", "properties": {}}))
    return out, custom


def _tool_choice(choice: Any) -> str:
    if isinstance(choice, str):
        return choice if choice in ("none", "auto", "required") else "auto"
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom") and choice.get("name"):
        return str(choice["name"])
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return "required" if choice.get("mode") == "required" else "auto"
    return "auto"


def _text_format(body: dict[str, Any], texts: list[str]) -> tuple[bool, dict[str, Any] | None]:
    text = fields.optional(body, "text", dict, "an object") or {}
    fmt = text.get("format") if isinstance(text.get("format"), dict) else {"type": "text"}
    kind = fmt.get("type", "text")
    if kind == "text":
        return False, None
    if kind == "json_object":
        if not any("json" in t.lower() for t in texts):
            raise SimError("invalid", "Response input messages must contain the word 'json' in some form to use "
                           "'text.format' of type 'json_object'.", param="input")  # fmt: skip
        return True, None
    if kind == "json_schema":
        if not fmt.get("name"):
            raise SimError("invalid", "Missing required parameter: 'text.format.name'.",
                           param="text.format.name", code="missing_required_parameter")  # fmt: skip
        return True, fmt.get("schema") or {"type": "object", "properties": {}}
    raise SimError("invalid", f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and "
                   "'json_schema'.", param="text.format.type", code="invalid_value")  # fmt: skip


def tools_echo(body: dict[str, Any]) -> list[Any]:
    """The tools as the Response object repeats them (function tools with their defaults filled)."""
    out = []
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and tool.get("type") == "function":
            tool = {"type": "function", "description": None, "strict": True, **tool}
        out.append(tool)
    return out
