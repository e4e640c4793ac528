"""The simulator's run-time state: settings with run-time fault overrides, the per-model fault RNGs,
request statistics, rate-limit windows, the prompt cache and the last requests received (as
``recording.py`` writes them).

Faults are deterministic: each model has its own ``random.Random`` seeded from (config seed, model
name); every request that reaches the fault stage draws one number from it and compares it with the
cumulative rates in ``FAULT_KINDS`` order. The same sequence of requests sees the same faults.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from tierroute.sim.cache import PromptCache
from tierroute.sim.config import FAULT_KINDS, Faults, ModelSettings, SimConfig
from tierroute.sim.wire import Rate

WINDOW_S = 60.0
RECENT = 100


@dataclass(slots=True)
class _Window:
    start: float
    requests: int = 0
    tokens: int = 0


class SimState:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.runtime: dict[str, dict[str, Any]] = {}  # model or "*" -> fault overrides
        self._settings: dict[str, ModelSettings] = {}
        self._rngs: dict[str, random.Random] = {}
        self._windows: dict[str, _Window] = {}
        self.stats: dict[str, dict[str, Any]] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.cache = PromptCache()

    # ------------------------------------------------------------------ settings and faults

    def settings(self, model: str) -> ModelSettings:
        found = self._settings.get(model)
        if found is None:
            found = self.config.settings_for(model)
            faults = found.faults
            for key in ("*", model):
                if key in self.runtime:
                    faults = faults.merged(self.runtime[key], f"faults[{key}]")
            if faults is not found.faults:
                found = replace(found, faults=faults)
            if len(self._settings) > 10_000:
                self._settings.clear()
            self._settings[model] = found
        return found

    def set_faults(self, model: str, faults: dict[str, Any]) -> None:
        """Raises ``ValueError`` for an unknown fault or a bad value; changes nothing then."""
        Faults().merged(faults, "faults")
        self.runtime.setdefault(model, {}).update({str(k): v for k, v in faults.items()})
        self._settings.clear()

    def reset(self) -> None:
        self.runtime.clear()
        self._settings.clear()
        self._rngs.clear()
        self._windows.clear()
        self.stats.clear()
        self.recent.clear()
        self.cache.clear()

    def draw_fault(self, model: str, faults: Faults) -> str | None:
        rng = self._rngs.get(model)
        if rng is None:
            digest = hashlib.blake2b(f"{self.config.seed}\x00{model}".encode(), digest_size=8).digest()
            rng = self._rngs[model] = random.Random(int.from_bytes(digest, "big"))
        r = rng.random()
        if not faults.any_rate():
            return None
        total = 0.0
        for kind in FAULT_KINDS:
            total += faults.rate(kind)
            if r < total:
                return kind
        return None

    # ------------------------------------------------------------------ rate limits

    def take(self, model: str, settings: ModelSettings, tokens: int) -> Rate:
        now = time.monotonic()
        w = self._windows.get(model)
        if w is None or now - w.start >= WINDOW_S:
            w = self._windows[model] = _Window(now)
        w.requests += 1
        w.tokens += tokens
        exceeded = w.requests > settings.rpm or w.tokens > settings.tpm
        if exceeded:  # a refused request uses no quota
            w.requests -= 1
            w.tokens -= tokens
        return Rate(
            settings.rpm,
            max(0, settings.rpm - w.requests),
            settings.tpm,
            max(0, settings.tpm - w.tokens),
            max(0.0, WINDOW_S - (now - w.start)),
            exceeded,
        )

    # ------------------------------------------------------------------ statistics

    def count(self, model: str) -> dict[str, Any]:
        entry = self.stats.get(model)
        if entry is None:
            entry = self.stats[model] = {"requests": 0, "ok": 0, "errors": {}}
        entry["requests"] += 1
        return entry

    @staticmethod
    def outcome(entry: dict[str, Any], result: str) -> None:
        """``result`` is ``ok`` or an error key: an HTTP status (``"429"``) or a fault name."""
        if result == "ok":
            entry["ok"] += 1
        else:
            errors = entry["errors"]
            errors[result] = errors.get(result, 0) + 1


STATE = web.AppKey("tierroute_sim_state", SimState)
