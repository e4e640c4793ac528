"""Caller hints (headers and metadata) and the rules file: parsing, matching, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from routing_helpers import chat

from tierroute.config.loader import ConfigError
from tierroute.errors import InvalidRequest
from tierroute.routing import load_rules, parse_hints
from tierroute.types import Classification


def test_headers_and_metadata() -> None:
    h = parse_hints({"X-Tierroute-Task": "Coding", "X-Tierroute-Complexity": "high"}, None)
    assert (h.task, h.complexity) == ("coding", 0.85)
    h = parse_hints({}, {"task": "math", "complexity": 0.3, "willingness_to_pay": 0.5})
    assert (h.task, h.complexity, h.willingness_to_pay) == ("reasoning", 0.3, 0.5)
    h = parse_hints({"X-Tierroute-Task": "documentation"}, {"task": "coding"})
    assert h.task == "documentation"  # the header wins
    assert parse_hints({}, None).task is None


@pytest.mark.parametrize(("headers", "metadata", "param"), [
    ({"X-Tierroute-Task": "poetry"}, None, "X-Tierroute-Task"),
    ({"X-Tierroute-Complexity": "1.5"}, None, "X-Tierroute-Complexity"),
    ({"X-Tierroute-Complexity": "extreme"}, None, "X-Tierroute-Complexity"),
    ({}, {"complexity": "lots"}, "metadata.complexity"),
    ({}, {"task": 3}, "metadata.task"),
    ({"X-Tierroute-Willingness-To-Pay": "-0.1"}, None, "X-Tierroute-Willingness-To-Pay"),
])
def test_bad_hints_are_400_naming_the_field(headers, metadata, param) -> None:
    with pytest.raises(InvalidRequest) as e:
        parse_hints(headers, metadata)
    assert e.value.param == param and e.value.status == 400
    assert e.value.body()["error"]["param"] == param


def test_first_matching_rule_wins(rules) -> None:
    def rule_for(task: str, cx: float) -> str:
        r = rules.match(Classification(task=task, complexity=cx), chat("x"), 10)
        return r.name

    assert rule_for("architecture", 0.9) == "architecture-complex"
    assert rule_for("architecture", 0.3) == "architecture"
    assert rule_for("coding", 0.2) == "coding-simple"
    assert rule_for("coding", 0.8) == "coding-complex"
    assert rule_for("chat", 0.9) == "hard"
    assert rules.match(Classification(task="chat", complexity=0.1), chat("x"), 100_000).name == "long-context"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "routing_rules.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("rules:\n  - name: a\n    models: [nope-model]\n", "rules[0] (a).models[0]", "unknown model 'nope-model'"),
    ("rules:\n  - name: a\n    when: {task: poetry}\n    tier: standard\n", "rules[0] (a).when.task",
     "unknown task"),
    ("rules:\n  - name: a\n    when: {min_complexity: 2}\n    tier: standard\n", "rules.0.when.min_complexity",
     "Expected"),
    ("rules:\n  - name: a\n", "rules[0] (a)", "names no models"),
    ("rules:\n  - name: a\n    tier: standard\n  - name: a\n    tier: premium\n", "rules[1] (a).name",
     "duplicate"),
    ("rules:\n  - name: a\n    tier: standard\n    colour: red\n", "rules.0", "unknown field"),
    ("rules: [\n", "line", "not valid YAML"),
    ("other: 1\n", "rules", "missing"),
])
def test_bad_rules_file_names_file_key_and_fix(tmp_path: Path, settings, text: str, key: str,
                                               problem: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_rules(p, settings.catalog)
    assert e.value.file == str(p)
    assert e.value.key.startswith(key), e.value.key
    assert problem.lower() in e.value.problem.lower(), e.value.problem
    assert e.value.fix


def test_shipped_rules_load(settings) -> None:
    rules = load_rules(settings.routing_rules_path, settings.catalog)
    assert [r.name for r in rules.rules][-1] == "default"
