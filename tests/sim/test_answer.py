"""What the simulated model says, without a server: determinism, directives, code, JSON, limits."""

from __future__ import annotations

import ast
import json
import re

import pytest

from tierroute.sim.answer import REFUSAL, Prompt, generate, parse_directives, tokens
from tierroute.sim.schema import instance


def ask(text: str, model: str = "m", seed: int = 1, **kw: object) -> str:
    prompt = Prompt(model=model, text=text, question=text, **kw)  # type: ignore[arg-type]
    return generate(prompt, seed, 4096, parse_directives(text, model))[0].text


def code_block(text: str) -> str:
    m = re.search(r"```python\n(.*?)```", text, re.S)
    assert m, text
    return m.group(1)


def test_deterministic_per_seed_model_and_prompt() -> None:
    a = ask("Explain how DNS works")
    assert a == ask("Explain how DNS works")
    assert a.startswith("[m] answer to: Explain how DNS works")
    assert a != ask("Explain how DNS works", seed=2)
    assert a != ask("Explain how DNS works", model="other")
    assert a != ask("Explain how TCP works")


def test_length_depends_on_the_prompt() -> None:
    lengths = {len(ask(f"question number {i}")) for i in range(20)}
    assert len(lengths) > 5


def test_code_prompts_get_python_that_parses() -> None:
    for q in ("Implement a queue", "Write a Python function that sorts", "show me code for a stack"):
        ast.parse(code_block(ask(q)))


def test_badcode_does_not_parse() -> None:
    with pytest.raises(SyntaxError):
        ast.parse(code_block(ask("Write a function [[sim:badcode]]")))


def test_directives_and_their_scope() -> None:
    assert ask("hi [[sim:refuse]]") == REFUSAL
    assert ask("hi [[sim:empty]]") == ""
    assert ask("hi [[sim:refuse@cheap]]", model="cheap") == REFUSAL
    assert ask("hi [[sim:refuse@cheap]]", model="strong") != REFUSAL
    assert ask("hi [[sim:refuse@gpt-4o*]]", model="gpt-4o-mini") == REFUSAL
    d = parse_directives("x [[sim:error=429@a]] [[sim:error=529]]", "b")
    assert d.error == "529"
    assert parse_directives("x [[sim:error=nonsense]]", "m").error is None
    assert "[[sim:" not in ask("hi [[sim:long]]")


def test_max_tokens_and_long() -> None:
    prompt = Prompt(model="m", text="Explain [[sim:long]]", question="Explain [[sim:long]]", max_tokens=30)
    c = generate(prompt, 1, 4096, parse_directives(prompt.text, "m"))[0]
    assert c.finish == "length" and c.tokens == 30 and len(c.text) == 120
    prompt = Prompt(model="m", text="Explain [[sim:long]]", question="Explain [[sim:long]]")
    c = generate(prompt, 1, 500, parse_directives(prompt.text, "m"))[0]
    assert c.finish == "length" and c.tokens == 500


def test_stop_sequences_cut_before_the_first_hit() -> None:
    prompt = Prompt(model="m", text="Explain routers", question="Explain routers", stop=("zzz", "routers"))
    c = generate(prompt, 1, 4096, parse_directives(prompt.text, "m"))[0]
    assert c.finish == "stop_sequence" and c.stop_sequence == "routers"
    assert c.text == "[m] answer to: Explain "


def test_json_mode_and_badjson() -> None:
    assert isinstance(json.loads(ask("Give JSON", json_mode=True)), dict)
    with pytest.raises(json.JSONDecodeError):
        json.loads(ask("Give JSON [[sim:badjson]]", json_mode=True))


def test_tools_are_called_until_a_result_comes_back() -> None:
    tools = [("search", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}),
             ("get_weather", {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})]  # fmt: skip
    p = Prompt(
        model="m",
        text="What is the get_weather in Oslo",
        question="What is the get_weather in Oslo",
        tools=tools,
    )
    c = generate(p, 1, 4096, parse_directives(p.text, "m"))[0]
    assert c.finish == "tool_calls" and c.tool_calls[0].name == "get_weather"
    assert set(json.loads(c.tool_calls[0].arguments)) == {"city"}
    p.tool_result = "5 degrees"
    c = generate(p, 1, 4096, parse_directives(p.text, "m"))[0]
    assert c.finish == "stop" and "5 degrees" in c.text
    p.tool_result, p.tool_choice = None, "none"
    assert generate(p, 1, 4096, parse_directives(p.text, "m"))[0].finish == "stop"


def test_tokens_are_a_quarter_of_the_characters() -> None:
    assert [tokens(""), tokens("a"), tokens("abcd"), tokens("abcde")] == [0, 1, 1, 2]
    assert Prompt(model="m", text="x" * 9, question="", images=2).prompt_tokens() == 3 + 170


SCHEMAS = [
    {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 18}},
     "required": ["name", "age"], "additionalProperties": False},
    {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                                      "kind": {"enum": ["a", "b"]}, "ok": {"type": "boolean"},
                                      "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}}},
    {"$defs": {"P": {"type": "object", "properties": {"x": {"type": ["number", "null"]}}, "required": ["x"]}},
     "type": "object", "properties": {"p": {"$ref": "#/$defs/P"}, "q": {"anyOf": [{"type": "null"}, {"type": "string", "format": "date"}]}},
     "required": ["p", "q"]},
    {"type": "OBJECT", "properties": {"city": {"type": "STRING", "maxLength": 3}, "n": {"type": "INTEGER", "multipleOf": 5, "minimum": 1}}},
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS)
def test_schema_instances_satisfy_the_schema(schema: dict) -> None:
    value = instance(schema, "Oslo weather")
    _check(value, schema, schema)


def _check(value: object, schema: dict, root: dict) -> None:
    """A small validator for the schema features used above."""
    if "$ref" in schema:
        return _check(value, root["$defs"][schema["$ref"].split("/")[-1]], root)
    if "anyOf" in schema:
        errors = 0
        for option in schema["anyOf"]:
            try:
                _check(value, option, root)
            except AssertionError:
                errors += 1
        assert errors < len(schema["anyOf"])
        return None
    if "enum" in schema:
        assert value in schema["enum"]
    types = schema.get("type")
    types = [t.lower() for t in (types if isinstance(types, list) else [types])] if types else []
    py = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool,
          "null": type(None)}  # fmt: skip
    if types:
        assert any(isinstance(value, py[t]) for t in types), (value, types)
    if isinstance(value, dict):
        assert set(schema.get("required", [])) <= set(value)
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(schema["properties"])
        for k, v in value.items():
            _check(v, schema["properties"][k], root)
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0)
        for v in value:
            _check(v, schema.get("items", {}), root)
    if isinstance(value, str):
        assert len(value) <= schema.get("maxLength", 10**9)
        if schema.get("format") == "date":
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        assert value >= schema.get("minimum", -(10**9))
        assert value > schema.get("exclusiveMinimum", -(10**9))
        assert value <= schema.get("maximum", 10**9)
        if "multipleOf" in schema:
            assert value % schema["multipleOf"] == 0
    return None
