"""The OpenAI chat request's fields, checked the way the API checks them: each failure is a
``SimError`` with the API's message, ``param`` and ``code`` (``missing_required_parameter``,
``invalid_type``, ``invalid_value``, ``integer_below_min_value``, ...)."""

from __future__ import annotations

from typing import Any

from tierroute.sim.wire import SimError


def type_error(param: str, expected: str, got: Any) -> SimError:
    kinds = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "an array",
             dict: "an object", type(None): "null"}  # fmt: skip
    return SimError(
        "invalid",
        f"Invalid type for '{param}': expected {expected}, but got {kinds.get(type(got), 'a value')} instead.",
        param=param,
        code="invalid_type",
    )


def required(body: dict[str, Any], key: str, kind: type, expected: str) -> Any:
    if key not in body:
        raise SimError(
            "invalid", f"Missing required parameter: '{key}'.", param=key, code="missing_required_parameter"
        )
    value = body[key]
    if not isinstance(value, kind):
        raise type_error(key, expected, value)
    return value


def optional(body: dict[str, Any], key: str, kind: type, expected: str) -> Any:
    value = body.get(key)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise type_error(key, expected, value)
    return value


def int_field(body: dict[str, Any], key: str, lo: int | None, hi: int | None) -> int | None:
    value = optional(body, key, int, "an integer")
    if value is None:
        return None
    if lo is not None and value < lo:
        raise SimError("invalid", f"Invalid '{key}': integer below minimum value. Expected a value >= {lo}, but got {value} instead.",
                       param=key, code="integer_below_min_value")  # fmt: skip
    if hi is not None and value > hi:
        raise SimError("invalid", f"Invalid '{key}': integer above maximum value. Expected a value <= {hi}, but got {value} instead.",
                       param=key, code="integer_above_max_value")  # fmt: skip
    return value


def max_tokens(body: dict[str, Any]) -> int | None:
    a = int_field(body, "max_completion_tokens", 1, None)
    b = int_field(body, "max_tokens", 1, None)
    return a if a is not None else b


def content(content: Any, param: str) -> tuple[str, int]:
    if content is None or isinstance(content, str):
        return content or "", 0
    if not isinstance(content, list):
        raise type_error(param, "one of an array of objects or a string", content)
    texts, images = [], 0
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and isinstance(part.get("image_url"), dict) and part["image_url"].get("url"):
            images += 1
        elif kind in ("input_audio", "file", "refusal"):
            texts.append(part.get("refusal", "") if kind == "refusal" else "")
        else:
            raise SimError(
                "invalid",
                f"Invalid value: '{kind}'. Supported values are: 'text', 'image_url', 'input_audio', 'refusal', and 'file'.",
                param=f"{param}[{j}].type",
                code="invalid_value",
            )
    return "\n".join(texts), images


def tools(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    tools = optional(body, "tools", list, "an array of objects") or []
    out = []
    for i, tool in enumerate(tools):
        if isinstance(tool, dict) and tool.get("type") not in (None, "function"):
            continue  # a custom or built-in tool: accepted, never called in chat completions
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise SimError("invalid", f"Missing required parameter: 'tools[{i}].function.name'.",
                           param=f"tools[{i}].function.name", code="missing_required_parameter")  # fmt: skip
        out.append((fn["name"], fn.get("parameters") or {"type": "object", "properties": {}}))
    return out


def tool_choice(choice: Any) -> str:
    if isinstance(choice, str):
        return choice if choice in ("none", "auto", "required") else "auto"
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"].get("name", "auto"))
    return "auto"


def stop(body: dict[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(stop[:4])
    raise type_error("stop", "one of a string or an array of strings", stop)


def response_format(body: dict[str, Any], texts: list[str]) -> tuple[bool, dict[str, Any] | None]:
    fmt = optional(body, "response_format", dict, "an object")
    kind = fmt.get("type") if fmt else "text"
    if kind == "text":
        return False, None
    if kind == "json_object":
        if not any("json" in t.lower() for t in texts):
            raise SimError("invalid", "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                           param="messages")  # fmt: skip
        return True, None
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not spec.get("name"):
            raise SimError("invalid", "Missing required parameter: 'response_format.json_schema.name'.",
                           param="response_format.json_schema.name", code="missing_required_parameter")  # fmt: skip
        return True, spec.get("schema") or {"type": "object", "properties": {}}
    raise SimError("invalid", f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and 'text'.",
                   param="response_format.type", code="invalid_value")  # fmt: skip
