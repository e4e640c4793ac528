"""The simulator's settings: built-in defaults, overridden per model by an optional YAML file.

``load_sim_config(None)`` gives the defaults; ``load_sim_config(path)`` reads the file described in
``tierroute.sim``'s docstring (``example.yaml`` beside this file shows every key). A bad file raises
``ValueError`` naming the file, the key path and what is allowed.

A model's settings are looked up by exact name first, then by the first ``fnmatch`` pattern that
matches (``claude-*``), then the ``defaults`` block; any model name is served.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import yaml

# The random faults, in the order a request's one uniform draw is compared against their rates.
FAULT_KINDS: tuple[str, ...] = (
    "429",
    "500",
    "503",
    "529",
    "timeout",
    "stream_cut",
    "stream_error",
    "malformed",
)

_FAULT_ATTR = {
    "429": "r429",
    "500": "r500",
    "503": "r503",
    "529": "r529",
    "timeout": "timeout",
    "stream_cut": "stream_cut",
    "stream_error": "stream_error",
    "malformed": "malformed",
}


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault rates (each in [0, 1], drawn per request) and the parameters of the faults."""

    r429: float = 0.0
    r500: float = 0.0
    r503: float = 0.0
    r529: float = 0.0
    timeout: float = 0.0
    stream_cut: float = 0.0
    stream_error: float = 0.0
    malformed: float = 0.0
    down: bool = False  # every request fails 503
    retry_after_s: float = 1.0  # Retry-After on a 429
    hang_s: float = 30.0  # how long a `timeout` hangs before answering
    stream_cut_after: int = 2  # output chunks sent before a `stream_cut` / `stream_error` breaks a stream

    def rate(self, kind: str) -> float:
        return getattr(self, _FAULT_ATTR[kind])

    def any_rate(self) -> bool:
        return any(getattr(self, a) > 0.0 for a in _FAULT_ATTR.values())

    def merged(self, overrides: dict[str, Any], where: str) -> Faults:
        """These faults with ``overrides`` (the YAML / control-API spelling) applied; validates."""
        if not isinstance(overrides, dict):
            raise ValueError(f"{where}: must be a mapping of fault names to values, got {overrides!r}")
        changes: dict[str, Any] = {}
        for raw_key, value in overrides.items():
            key = str(raw_key)
            path = f"{where}.{key}"
            if key in _FAULT_ATTR:
                changes[_FAULT_ATTR[key]] = _rate(value, path)
            elif key == "down":
                changes["down"] = _bool(value, path)
            elif key in ("retry_after_s", "hang_s"):
                changes[key] = _number(value, path, minimum=0.0)
            elif key == "stream_cut_after":
                changes[key] = int(_number(value, path, minimum=0.0, integer=True))
            else:
                known = ", ".join([*FAULT_KINDS, "down", "retry_after_s", "hang_s", "stream_cut_after"])
                raise ValueError(f"{path}: unknown fault '{key}' (known: {known})")
        return replace(self, **changes) if changes else self


@dataclass(frozen=True, slots=True)
class ModelSettings:
    latency_ms: float = 0.0  # time to first byte
    tokens_per_s: float = 0.0  # stream pacing; 0 = as fast as possible
    chunk_tokens: int = 4  # tokens per streamed text chunk
    context_window: int = 128_000  # prompt tokens above this -> the dialect's context-length error
    max_output_tokens: int = 4096  # the cap when a request sets no max tokens
    vision: bool = True  # False -> an image in the prompt is a 400
    embedding_dim: int | None = None  # None -> 1536 (OpenAI dialect) / 768 (Gemini dialect)
    rpm: int = 1_000_000  # requests per minute before a real 429 (and the rate-limit headers)
    tpm: int = 1_000_000_000  # tokens per minute, likewise
    faults: Faults = field(default_factory=Faults)


# Context windows of well-known families, used for a model that no config entry names, unless the
# config sets `defaults.context_window` (then that holds for every model).
FAMILY_WINDOWS: tuple[tuple[str, int], ...] = (
    ("claude-*", 200_000),
    ("gemini-*", 1_048_576),
    ("gpt-4.1*", 1_047_576),
    ("o1*", 200_000),
    ("o3*", 200_000),
    ("o4*", 200_000),
)


def _families(defaults: ModelSettings) -> dict[str, ModelSettings]:
    return {pattern: replace(defaults, context_window=window) for pattern, window in FAMILY_WINDOWS}


_NUMERIC = {
    "latency_ms": (0.0, False),
    "tokens_per_s": (0.0, False),
    "chunk_tokens": (1.0, True),
    "context_window": (1.0, True),
    "max_output_tokens": (1.0, True),
    "rpm": (1.0, True),
    "tpm": (1.0, True),
}


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int = 0
    api_keys: tuple[str, ...] = ()  # empty: any non-empty key is accepted
    defaults: ModelSettings = field(default_factory=ModelSettings)
    models: dict[str, ModelSettings] = field(default_factory=dict)  # exact names and fnmatch patterns
    source: str | None = None  # the file it came from
    families: dict[str, ModelSettings] = field(default_factory=lambda: _families(ModelSettings()))

    def settings_for(self, model: str) -> ModelSettings:
        exact = self.models.get(model)
        if exact is not None:
            return exact
        for pattern, settings in self.models.items():
            if _is_pattern(pattern) and fnmatch.fnmatchcase(model, pattern):
                return settings
        return self.family(model) or self.defaults

    def family(self, model: str) -> ModelSettings | None:
        """The built-in settings of the model's family (``FAMILY_WINDOWS``), if it is in one."""
        for pattern, settings in self.families.items():
            if fnmatch.fnmatchcase(model, pattern):
                return settings
        return None

    def listed_models(self) -> list[str]:
        """The configured names that are not patterns (what ``/v1/models`` lists)."""
        return [m for m in self.models if not _is_pattern(m)]


def load_sim_config(path: str | None) -> SimConfig:
    if path is None:
        return SimConfig()
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the simulator config ({e.strerror or e})") from e
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from e
    return config_from_dict(data if data is not None else {}, path)


def config_from_dict(data: Any, source: str = "<sim config>") -> SimConfig:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: the top level must be a mapping (seed, api_keys, defaults, models)")
    known = ("seed", "api_keys", "defaults", "models")
    for key in data:
        if key not in known:
            raise ValueError(f"{source}: unknown key '{key}' (known: {', '.join(known)})")
    seed = int(_number(data.get("seed", 0), f"{source}: seed", integer=True))
    keys = data.get("api_keys") or []
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise ValueError(f"{source}: api_keys must be a list of non-empty strings")
    raw_defaults = data.get("defaults") or {}
    defaults = _settings(raw_defaults, ModelSettings(), f"{source}: defaults")
    families = (
        {} if isinstance(raw_defaults, dict) and "context_window" in raw_defaults else _families(defaults)
    )
    base = SimConfig(defaults=defaults, families=families)
    raw_models = data.get("models") or {}
    if not isinstance(raw_models, dict):
        raise ValueError(f"{source}: models must be a mapping of model name (or pattern) to settings")
    models = {  # an entry starts from its family's settings when its name is in one
        str(name): _settings(spec or {}, base.family(str(name)) or defaults, f"{source}: models.{name}")
        for name, spec in raw_models.items()
    }
    return SimConfig(
        seed=seed, api_keys=tuple(keys), defaults=defaults, models=models, source=source, families=families
    )


def _settings(spec: Any, base: ModelSettings, where: str) -> ModelSettings:
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: must be a mapping of settings, got {spec!r}")
    names = [f.name for f in fields(ModelSettings)]
    changes: dict[str, Any] = {}
    for key, value in spec.items():
        path = f"{where}.{key}"
        if key in _NUMERIC:
            minimum, integer = _NUMERIC[key]
            number = _number(value, path, minimum=minimum, integer=integer)
            changes[key] = int(number) if integer else float(number)
        elif key == "vision":
            changes[key] = _bool(value, path)
        elif key == "embedding_dim":
            changes[key] = None if value is None else int(_number(value, path, minimum=1, integer=True))
        elif key == "faults":
            changes[key] = base.faults.merged(value or {}, path)
        else:
            raise ValueError(f"{path}: unknown setting (known: {', '.join(names)})")
    return replace(base, **changes) if changes else base


def _number(value: Any, path: str, *, minimum: float | None = None, integer: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer and value != int(value):
        ok = False
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{path}: must be {kind}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{path}: must be at least {minimum:g}, got {value!r}")
    return value


def _rate(value: Any, path: str) -> float:
    number = _number(value, path, minimum=0.0)
    if number > 1.0:
        raise ValueError(f"{path}: a fault rate is a probability between 0 and 1, got {value!r}")
    return float(number)


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{path}: must be true or false, got {value!r}")
    return value


def _is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")
