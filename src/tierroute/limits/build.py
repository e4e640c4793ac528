"""Wiring: one SharedState behind both Limits and Health."""

from __future__ import annotations

import time
from collections.abc import Callable

from .config import LimitsConfig, RateLimits
from .health import Health
from .quotas import Limits
from .shared import SharedState


def build_limits(cfg: LimitsConfig, rate_limits: RateLimits,
                 clock: Callable[[], float] = time.time) -> tuple[Limits, Health]:
    """Build the pair. Call ``await limits.start()`` before serving (it starts Health's sync too)
    and ``await limits.close()`` at shutdown."""
    state = SharedState(cfg)
    limits = Limits(cfg, rate_limits, state, clock=clock)
    health = Health(cfg, state, clock=clock)
    limits.health = health
    return limits, health
