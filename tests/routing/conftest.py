"""Routing fixtures: the shipped config (offline: no provider keys), rules and a Router."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierroute.config.loader import Settings, load_settings
from tierroute.routing import Router, RoutingConfig, load_rules

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "tierroute.yaml"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(str(CONFIG), environ={"TIERROUTE_SIMULATOR": "on"})


@pytest.fixture(scope="session")
def rules(settings: Settings):
    return load_rules(settings.routing_rules_path, settings.catalog)


@pytest.fixture()
def router(settings: Settings, rules) -> Router:
    return Router(settings, rules, RoutingConfig())
