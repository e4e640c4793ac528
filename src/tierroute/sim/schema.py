"""A small value that satisfies a JSON schema: what the simulator answers in JSON-schema mode and
passes as tool-call arguments.

Understands the parts of JSON Schema that OpenAI structured outputs, Anthropic ``input_schema`` and
Gemini ``responseSchema`` (OpenAPI subset, upper-case type names, ``nullable``) use: ``type`` (or a
list of types), ``properties`` / ``required``, ``items`` / ``prefixItems`` / ``minItems``, ``enum``,
``const``, ``anyOf`` / ``oneOf`` / ``allOf``, ``$ref`` into ``$defs`` / ``definitions``, string
``format`` / ``minLength`` / ``maxLength``, and numeric bounds with ``multipleOf``. Strings are
filled with ``fill``. An object with no ``required`` list gets all its properties.
"""

from __future__ import annotations

import math
from typing import Any

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
    "duration": "PT1S",
}


def instance(schema: Any, fill: str = "sim") -> Any:
    return _value(schema, schema, fill, 0, 0)


def _value(schema: Any, root: Any, fill: str, index: int, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > 32:
        return fill
    if "$ref" in schema:
        return _value(_resolve(schema["$ref"], root), root, fill, index, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][index % len(schema["enum"])]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options:
            non_null = [o for o in options if not (isinstance(o, dict) and _types(o) == ["null"])]
            return _value((non_null or options)[0], root, fill, index, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(part["$ref"], root) if isinstance(part, dict) and "$ref" in part else part
            if isinstance(part, dict):
                for k, v in part.items():
                    if k == "properties":
                        merged["properties"] = {**merged.get("properties", {}), **v}
                    elif k == "required":
                        merged["required"] = [*merged.get("required", []), *v]
                    else:
                        merged.setdefault(k, v)
        return _value(merged, root, fill, index, depth + 1)

    types = _types(schema)
    kind = next((t for t in types if t != "null"), types[0] if types else None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        names = schema.get("required")
        names = list(props) if names is None else [n for n in names]
        return {n: _value(props.get(n, {}), root, fill, 0, depth + 1) for n in names}
    if kind == "array":
        prefix = schema.get("prefixItems") or []
        count = max(int(schema.get("minItems", 1)), len(prefix))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items = schema.get("items", {})
        return [
            _value(prefix[i] if i < len(prefix) else items, root, fill, i, depth + 1) for i in range(count)
        ]
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer", index)
    if kind == "boolean":
        return index % 2 == 1
    if kind == "null":
        return None
    return _string(schema, fill, index)


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type")
    if t is None:
        return []
    return [str(x).lower() for x in (t if isinstance(t, list) else [t])]


def _resolve(ref: str, root: Any) -> Any:
    if ref == "#":
        return root
    node = root
    for raw in ref.lstrip("#/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def _string(schema: dict[str, Any], fill: str, index: int) -> str:
    text = _FORMATS.get(str(schema.get("format", "")), fill)
    if index:
        text = f"{text} {index}" if text is fill else text
    lo = int(schema.get("minLength", 0))
    hi = schema.get("maxLength")
    if len(text) < lo:
        text = text + "x" * (lo - len(text))
    if hi is not None and len(text) > int(hi):
        text = text[: int(hi)]
    return text


def _number(schema: dict[str, Any], integer: bool, index: int) -> int | float:
    lo = schema.get("minimum")
    if schema.get("exclusiveMinimum") is not None and not isinstance(schema["exclusiveMinimum"], bool):
        step = 1 if integer else 0.5
        lo = max(lo if lo is not None else -math.inf, schema["exclusiveMinimum"] + step)
    hi = schema.get("maximum")
    if schema.get("exclusiveMaximum") is not None and not isinstance(schema["exclusiveMaximum"], bool):
        step = 1 if integer else 0.5
        hi = min(hi if hi is not None else math.inf, schema["exclusiveMaximum"] - step)
    value: float = index
    if lo is not None and value < lo:
        value = lo
    if hi is not None and value > hi:
        value = hi
    step = schema.get("multipleOf")
    if step:
        value = math.ceil(value / step) * step
        if hi is not None and value > hi:
            value -= step
    return int(math.ceil(value)) if integer else float(value)
