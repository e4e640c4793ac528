"""Routing: decide which deployments answer a request, in what order, and why. Never sends.

Public names: ``RoutingConfig`` (the ``routing:`` config section), ``load_rules`` /
``RoutingRules`` (config/routing_rules.yaml), ``Router`` (``plan`` / ``plan_async``),
``parse_hints``, ``estimate_prompt_tokens``, ``check_answer`` / ``judge_answer`` (cascade checks),
``classify_fast``, and ``routing_cli`` (the ``route`` and ``router`` commands, imported lazily).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tierroute.routing.cascade import check_answer, judge_answer
from tierroute.routing.classify import classify_fast
from tierroute.routing.config import RoutingConfig
from tierroute.routing.hints import parse_hints
from tierroute.routing.router import Router
from tierroute.routing.rules import RoutingRules, load_rules
from tierroute.routing.tokens import estimate_prompt_tokens

if TYPE_CHECKING:
    import click

__all__ = ["RoutingConfig", "RoutingRules", "Router", "check_answer", "classify_fast", "estimate_prompt_tokens",
           "judge_answer", "load_rules", "parse_hints", "routing_cli"]


def __getattr__(name: str) -> Any:
    # The commands import click and (for training) scikit-learn: only when asked for.
    if name == "routing_cli":
        from tierroute.routing.cli import route_cmd, router_group

        cmds: dict[str, click.Command] = {"route": route_cmd, "router": router_group}
        return cmds
    raise AttributeError(name)
