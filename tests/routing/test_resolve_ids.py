"""The ids agents send: dated snapshots, -latest, vendor ids and unknown members of a known family
resolve; a truly unknown id is a 404 naming ids that exist; routing_rules.yaml `named:` routes an
agent's default model as auto, with a tier floor."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from tierroute.config.loader import ConfigError
from tierroute.errors import ModelNotFound
from tierroute.routing import Router, RoutingConfig, load_rules
from tierroute.types import ChatRequest, RouteHints

NO_HINTS = RouteHints()
ARCH = "Design the architecture for a distributed event-sourced payment system with sharding and failover."


def chat(text: str, model: str) -> ChatRequest:
    return msgspec.convert({"model": model, "messages": [{"role": "user", "content": text}]}, ChatRequest)


@pytest.mark.parametrize(("model_id", "name"), [
    ("claude-opus-5-5", "claude-opus-5-5"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),   # dated snapshot (also the upstream id)
    ("claude-haiku-4-5", "claude-haiku-4-5"),
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),        # the seed's upstream id
    ("claude-sonnet-4-5-latest", "claude-sonnet-4-5"),
    ("gpt-4o-2024-08-06", "gpt-4o"),                         # OpenAI's dashed date
    ("mistral-large-latest", "mistral-large"),
    ("deepseek/deepseek-chat-v3-0324:free", "deepseek-v3"),
    ("sonnet", "claude-sonnet-4"),
])
def test_vendor_ids_resolve_to_catalog_models(settings, model_id: str, name: str) -> None:
    assert settings.catalog.resolve(model_id) == name


@pytest.mark.parametrize(("model_id", "family", "priced_as"), [
    ("claude-opus-5-6", "claude-opus", "claude-opus-5-5"),
    ("claude-3-5-sonnet-latest", "claude-sonnet", "claude-sonnet-5-5"),
    ("gpt-4o-mini", "gpt-4o", "gpt-4o"),
    ("gpt-5", "gpt", "gpt-4.1"),
    ("gemini-2.5-flash", "gemini-flash", "gemini-3-flash-preview"),
    ("deepseek-v9", "deepseek", "deepseek-v4-flash"),
])
def test_a_known_family_serves_the_requested_id(router: Router, settings, model_id: str, family: str,
                                                priced_as: str) -> None:
    plan = router.plan(chat("hi", model_id), NO_HINTS)
    assert plan.route == f"family:{family} -> {priced_as} prices"
    first = plan.attempts[0].deployment
    base = settings.catalog.models[priced_as]
    assert first.upstream_model == model_id and first.model == priced_as
    assert first.provider == base.provider and first.id == f"{base.provider}/{model_id}"
    # The catalog model itself keeps its own upstream id and deployment.
    assert base.deployments[0].upstream_model != model_id
    assert plan.requested_model == model_id


def test_unknown_id_is_model_not_found_naming_known_ids(router: Router) -> None:
    with pytest.raises(ModelNotFound) as e:
        router.plan(chat("hi", "totally-unknown-model"), NO_HINTS)
    assert e.value.status == 404 and e.value.code == "model_not_found"
    assert "totally-unknown-model" in str(e.value) and "claude-opus-5-5" in str(e.value)


def test_named_models_are_honoured_by_default(router: Router) -> None:
    plan = router.plan(chat(ARCH, "claude-opus-5-5"), NO_HINTS)
    assert plan.route == "model:claude-opus-5-5"
    assert plan.attempts[0].deployment.upstream_model == "claude-opus-5-5"


def _rules(tmp_path: Path, named: str) -> Path:
    shipped = (Path(__file__).resolve().parents[2] / "config" / "routing_rules.yaml").read_text()
    path = tmp_path / "routing_rules.yaml"
    path.write_text(shipped + "\n" + named)
    return path


NAMED = """named:
  - match: claude-opus-*
    route: auto
    floor: {architecture: premium}
  - match: claude-haiku-*
    floor: standard
"""


def test_named_route_plans_as_auto_with_a_floor(tmp_path: Path, settings) -> None:
    rules = load_rules(_rules(tmp_path, NAMED), settings.catalog)
    router = Router(settings, rules, RoutingConfig())
    plan = router.plan(chat(ARCH, "claude-opus-5-5"), NO_HINTS)
    assert plan.route == "named:claude-opus-* -> rule:architecture (floor premium)"
    assert plan.attempts and all(settings.catalog.models[a.deployment.model].tier == "premium"
                                 for a in plan.attempts)
    assert plan.requested_model == "claude-opus-5-5"
    # No floor for other tasks: an easy question goes wherever the rules send it.
    easy = router.plan(chat("Write a docstring for this function.", "claude-opus-4-5-20251101"), NO_HINTS)
    assert easy.route.startswith("named:claude-opus-* -> rule:") and "floor" not in easy.route
    # A one-tier floor drops specialists (fast-cheap would pick Mistral first).
    hi = router.plan(chat("hi", "claude-haiku-4-5"), NO_HINTS)
    assert hi.route.startswith("named:claude-haiku-* -> ") and hi.route.endswith("(floor standard)")
    assert all(settings.catalog.models[a.deployment.model].tier != "specialist" for a in hi.attempts)
    # Ids no entry matches are still honoured.
    assert router.plan(chat("hi", "gpt-4o"), NO_HINTS).route == "model:gpt-4o"


@pytest.mark.parametrize(("named", "key", "problem"), [
    ("named:\n  - match: 'claude opus'\n", "named[0] (claude opus).match", "bad pattern"),
    ("named:\n  - match: claude-*\n    floor: platinum\n", "named", "Invalid enum value 'platinum'"),
    ("named:\n  - match: claude-*\n    floor: {design: premium}\n", "named[0] (claude-*).floor.design",
     "unknown task"),
    ("named:\n  - match: claude-*\n    route: gpt-4o\n", "named", "Invalid enum value 'gpt-4o'"),
])
def test_bad_named_routes_are_config_errors(tmp_path: Path, settings, named: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_rules(_rules(tmp_path, named), settings.catalog)
    assert e.value.file.endswith("routing_rules.yaml")
    assert e.value.key.startswith(key) and problem in e.value.problem and e.value.fix
