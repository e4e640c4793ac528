"""Load config/tierroute.yaml and the files it names, interpolate ``${VAR}`` from the environment
and ``.env``, and validate everything before the gateway starts.

Every problem is a ``ConfigError`` that names the file, the key path and the fix; the CLI prints
it and exits non-zero, so a bad config never half-starts a gateway.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml
from dotenv import dotenv_values

from tierroute.catalog import TIERS, Catalog, Family, ModelInfo
from tierroute.config.schema import (
    CatalogFile,
    DeploymentSpec,
    FamilySpec,
    GatewayConfig,
    ModelSpec,
    ProviderConfig,
)
from tierroute.types import Deployment

T = TypeVar("T")


class ConfigError(Exception):
    def __init__(self, file: str | Path, key: str, problem: str, fix: str) -> None:
        self.file, self.key, self.problem, self.fix = str(file), key, problem, fix
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {problem}\n  fix: {fix}")


class Settings(msgspec.Struct, kw_only=True):
    """Everything the gateway needs from its config files, validated."""

    path: Path
    gateway: GatewayConfig
    catalog: Catalog
    routing_rules_path: Path
    rate_limits_path: Path
    offline: bool  # every deployment is served by the built-in simulator
    env: dict[str, str]

    def section(self, name: str, struct: type[T]) -> T:
        """Convert one of the sections other packages own (cache, limits, usage, routing)."""
        raw = getattr(self.gateway, name)
        try:
            return msgspec.convert(raw or {}, struct, strict=False)
        except msgspec.ValidationError as e:
            raise ConfigError(self.path, _key_path(name, str(e)), _problem(str(e)),
                              f"see the `{name}:` section in the shipped config/tierroute.yaml") from None

    def point_at_simulator(self, base_url: str) -> None:
        """Serve every deployment from the simulator at ``base_url`` (offline mode)."""
        for m in self.catalog.models.values():
            for d in m.deployments:
                d.base_url = base_url + "/v1" if d.dialect == "openai" else base_url
                d.api_key = "sk-simulator"


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), node)
    if isinstance(node, dict):
        return {k: _interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env) for v in node]
    return node


def _read_yaml(path: Path, env: Mapping[str, str]) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found",
                          "create it (copy the shipped config/ folder) or pass --config PATH") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(path, where, f"not valid YAML: {getattr(e, 'problem', e)}",
                          "fix the YAML syntax at that line (indentation, quotes, colons)") from None
    return _interpolate(data if data is not None else {}, env)


def _key_path(prefix: str, msgspec_error: str) -> str:
    m = re.search(r"at `\$(.*)`", msgspec_error)
    tail = m.group(1) if m else ""
    tail = re.sub(r"\[(?:'|\")?([^\]'\"]+)(?:'|\")?\]", r".\1", tail).lstrip(".")
    return ".".join(p for p in (prefix, tail) if p)


def _problem(msgspec_error: str) -> str:
    return msgspec_error.split(" - at `")[0]


def _convert(data: Any, struct: type[T], file: Path, prefix: str = "") -> T:
    # msgspec reports a bad value inside a mapping as `$.models[...]`; convert such mappings entry by entry
    # first so the message names the entry (`models.claude-opus-4.input_per_m`).
    for name, entry_type in _MAPPINGS.get(struct, {}).items():
        entries = data.get(name) if isinstance(data, dict) else None
        if isinstance(entries, dict):
            for k, v in entries.items():
                _convert(v, entry_type, file, f"{prefix}.{name}.{k}".lstrip("."))
    try:
        return msgspec.convert(data, struct, strict=False)
    except msgspec.ValidationError as e:
        raise ConfigError(file, _key_path(prefix, str(e)), _problem(str(e)),
                          "correct the value (see the comment at the top of the shipped file)") from None


_EXAMPLE_URL = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com",
                "gemini": "https://generativelanguage.googleapis.com"}

_MAPPINGS: dict[type, dict[str, type]] = {
    CatalogFile: {"models": ModelSpec, "families": FamilySpec},
    GatewayConfig: {"providers": ProviderConfig},
}


def find_config(path: str | None, env: Mapping[str, str]) -> Path:
    """--config, then $TIERROUTE_CONFIG, then ./config/tierroute.yaml, then the shipped defaults."""
    if path:
        return Path(path)
    if env.get("TIERROUTE_CONFIG"):
        return Path(env["TIERROUTE_CONFIG"])
    local = Path("config/tierroute.yaml")
    if local.exists():
        return local
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "_defaults" / "tierroute.yaml", here.parent.parent / "config" / "tierroute.yaml"):
        if cand.exists():
            return cand
    return local


def load_env(config_path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment over `.env` (in the working directory or beside config/)."""
    merged: dict[str, str] = {}
    for dotenv in (config_path.resolve().parent.parent / ".env", Path(".env")):
        if dotenv.is_file():
            merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def load_settings(path: str | None = None, environ: Mapping[str, str] | None = None,
                  host: str | None = None) -> Settings:
    """``host`` (``serve --host``) replaces server.host before the listener is checked, so the address
    the gateway binds is the one validated, however it was given."""
    env_probe = dict(os.environ if environ is None else environ)
    cfg_path = find_config(path, env_probe)
    env = load_env(cfg_path, environ)
    gw = _convert(_read_yaml(cfg_path, env), GatewayConfig, cfg_path)
    base = cfg_path.parent
    cat_path = base / gw.catalog
    cat_file = _convert(_read_yaml(cat_path, env), CatalogFile, cat_path)

    offline = gw.simulator.mode == "on" or (
        gw.simulator.mode == "auto"
        and not any(p.api_key for p in gw.providers.values() if p.enabled and p.requires_key)
    )
    catalog = _build_catalog(cat_file, gw.providers, cat_path, cfg_path, offline)
    _validate_fallbacks(gw, catalog, cfg_path)
    if catalog.resolve(gw.baseline_model) is None:
        raise ConfigError(cfg_path, "baseline_model", f"unknown model '{gw.baseline_model}'",
                          f"name a model from {cat_path.name}, e.g. claude-opus-4")
    for f in (gw.routing_rules, gw.rate_limits):
        if not (base / f).exists():
            raise ConfigError(base / f, "", "file not found", f"create it or fix the path in {cfg_path.name}")
    if host is not None:
        gw.server.host = host
    check_listener(gw.server.host, gw.server.master_key, cfg_path, via="--host" if host is not None else None)
    gw.server.cors_origins = [normalize_origin(o, cfg_path, f"server.cors_origins[{i}]")
                              for i, o in enumerate(gw.server.cors_origins)]
    return Settings(path=cfg_path, gateway=gw, catalog=catalog, routing_rules_path=base / gw.routing_rules,
                    rate_limits_path=base / gw.rate_limits, offline=offline, env=env)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` reaches this machine only. An IP literal is judged as it is; a name
    by every address it resolves to (all must be loopback); "" and wildcards bind every interface;
    a name that does not resolve is not loopback (refusing is the safe answer)."""
    h = host.strip().strip("[]")
    if not h:
        return False
    try:
        ip = ipaddress.ip_address(h.split("%")[0])
    except ValueError:
        try:
            infos = socket.getaddrinfo(h, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return False
        return bool(infos) and all(is_loopback(str(info[4][0])) for info in infos)
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def check_listener(host: str, master_key: str, cfg_path: Path, via: str | None = None) -> None:
    """The one check of the address the gateway will bind: with no master key the gateway is open
    to whoever can connect, so it may listen on loopback only. ``via`` names where the address came
    from when it was not the config file (``--host``)."""
    if master_key or is_loopback(host):
        return
    source = f"{via} {host!r}" if via else f"server.host {host!r} (TIERROUTE_HOST)"
    raise ConfigError(cfg_path, "server.master_key",
                      f"no master key, but the listener {source} is not a loopback address, so anyone who can "
                      "reach this machine could use the gateway (and spend on its provider keys)",
                      "set TIERROUTE_MASTER_KEY (server.master_key) in .env to a long random string, "
                      "or listen on 127.0.0.1 (--host 127.0.0.1 / TIERROUTE_HOST=127.0.0.1)")


_ORIGIN = re.compile(r"(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?")


def normalize_origin(origin: str, cfg_path: Path, key: str) -> str:
    """A configured CORS origin as browsers send it in ``Origin`` (lower case, no default port, no
    path), so the API's check is one set lookup."""
    m = _ORIGIN.fullmatch(origin.strip().rstrip("/").lower())
    if m is None:
        raise ConfigError(cfg_path, key, f"'{origin}' is not a web origin",
                          "write scheme://host[:port], e.g. https://app.example.com (no path, no wildcard)")
    scheme, name, port = m.groups()
    default = {"http": "80", "https": "443"}[scheme]
    return f"{scheme}://{name}" + (f":{port}" if port and port != default else "")


def _build_catalog(cat: CatalogFile, providers: dict[str, ProviderConfig], cat_path: Path, cfg_path: Path,
                   offline: bool) -> Catalog:
    infos: list[ModelInfo] = []
    names = set(cat.models)
    for name, spec in cat.models.items():
        key = f"models.{name}"
        if name in TIERS or name == "auto":
            raise ConfigError(cat_path, key, f"'{name}' is reserved for routing", "rename the model")
        specs = list(spec.deployments)
        if spec.provider:
            if not spec.upstream:
                raise ConfigError(cat_path, f"{key}.upstream", "missing", "give the vendor's model id")
            specs.insert(0, DeploymentSpec(provider=spec.provider, upstream=spec.upstream))
        if not specs:
            raise ConfigError(cat_path, key, "no provider", "add `provider:` and `upstream:` (or `deployments:`)")
        deps: list[Deployment] = []
        for i, d in enumerate(specs):
            p = providers.get(d.provider)
            where = f"{key}.provider" if spec.provider and i == 0 else f"{key}.deployments[{i}].provider"
            if p is None:
                raise ConfigError(cat_path, where, f"unknown provider '{d.provider}'",
                                  f"use one of {sorted(providers)} or add it under providers: in {cfg_path.name}")
            if not p.enabled:
                continue
            if spec.enabled and not offline and p.requires_key and not p.api_key:
                var = f"{d.provider.upper()}_API_KEY"
                raise ConfigError(cfg_path, f"providers.{d.provider}.api_key",
                                  f"no API key, but model '{name}' ({cat_path.name}) is enabled and served by it",
                                  f"set {var} in .env, or set `enabled: false` on the model in {cat_path.name}"
                                  f" or on providers.{d.provider} in {cfg_path.name}")
            if not offline and not p.base_url.startswith(("http://", "https://")):
                raise ConfigError(cfg_path, f"providers.{d.provider}.base_url",
                                  f"'{p.base_url}' is not an http(s) URL (is its ${{VAR}} set?)",
                                  f"give the provider's API base URL, e.g. {_EXAMPLE_URL.get(p.dialect)}")
            deps.append(Deployment(id=f"{d.provider}/{name}", model=name, provider=d.provider,
                                   dialect=p.dialect, base_url=p.base_url.rstrip("/"), upstream_model=d.upstream,
                                   api_key=p.api_key, timeout_s=p.timeout_s, headers=dict(p.headers),
                                   reasoning="reasoning" in spec.capabilities, max_output=spec.max_output,
                                   responses_api=p.responses_api and p.dialect == "openai",
                                   cache_hints=p.prompt_cache_hints))
        for alias in spec.aliases:
            if alias in names or alias in TIERS or alias == "auto":
                raise ConfigError(cat_path, f"{key}.aliases", f"alias '{alias}' is already a model or tier name",
                                  "choose another alias")
        infos.append(ModelInfo(
            name=name, tier=spec.tier, input_per_m=spec.input_per_m, output_per_m=spec.output_per_m,
            context_window=spec.context_window, max_output=spec.max_output, vision="vision" in spec.capabilities,
            tools="tools" in spec.capabilities, json_mode="json" in spec.capabilities, strengths=spec.strengths,
            aliases=spec.aliases, kind=spec.kind, enabled=spec.enabled and bool(deps), deployments=deps,
            cache_write_per_m=spec.cache_write_per_m, cache_write_1h_per_m=spec.cache_write_1h_per_m,
            cache_read_per_m=spec.cache_read_per_m))
    return Catalog(infos, _families(cat, {m.name: m for m in infos}, cat_path))


# A family pattern: the characters vendor ids use, plus the glob wildcards * and ?.
_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@*?-]*|\*[A-Za-z0-9._:/@-][A-Za-z0-9._:/@*?-]*")


def _families(cat: CatalogFile, models: dict[str, ModelInfo], cat_path: Path) -> list[Family]:
    """Validate `families:`: every pattern a plain glob, every price_from a chat model of this file
    served by the named provider."""
    out: list[Family] = []
    for name, spec in cat.families.items():
        key = f"families.{name}"
        if not spec.match:
            raise ConfigError(cat_path, f"{key}.match", "no patterns", "list glob patterns, e.g. [claude-opus-*]")
        for i, pattern in enumerate(spec.match):
            if not _PATTERN.fullmatch(pattern) or "**" in pattern:
                raise ConfigError(cat_path, f"{key}.match[{i}]", f"bad pattern '{pattern}'",
                                  "write a glob of letters, digits and . _ - : / @ with * or ? as wildcards, "
                                  "e.g. claude-opus-*")
        base = models.get(spec.price_from)
        if base is None or base.kind != "chat":
            raise ConfigError(cat_path, f"{key}.price_from", f"'{spec.price_from}' is not a chat model of this file",
                              "name the family's newest chat model from `models:` (its catalog name, not an alias)")
        if spec.provider and base.deployments and spec.provider not in {d.provider for d in base.deployments}:
            raise ConfigError(cat_path, f"{key}.provider", f"'{spec.provider}' does not serve '{spec.price_from}'",
                              f"use one of {sorted({d.provider for d in base.deployments})} or leave it out")
        out.append(Family(name=name, match=list(spec.match), price_from=spec.price_from, provider=spec.provider or ""))
    return out


def _validate_fallbacks(gw: GatewayConfig, catalog: Catalog, cfg_path: Path) -> None:
    chains = gw.fallbacks.models
    for model, chain in chains.items():
        if catalog.resolve(model) is None:
            raise ConfigError(cfg_path, f"fallbacks.models.{model}", f"unknown model '{model}'",
                              "use a model name or alias from models.yaml")
        for i, target in enumerate(chain):
            if catalog.resolve(target) is None:
                raise ConfigError(cfg_path, f"fallbacks.models.{model}[{i}]", f"unknown model '{target}'",
                                  "use a model name or alias from models.yaml")
    for tier, chain in gw.fallbacks.tiers.items():
        if tier not in TIERS:
            raise ConfigError(cfg_path, f"fallbacks.tiers.{tier}", f"unknown tier '{tier}'",
                              f"use one of {list(TIERS)}")
        for i, target in enumerate(chain):
            if catalog.resolve(target) is None:
                raise ConfigError(cfg_path, f"fallbacks.tiers.{tier}[{i}]", f"unknown model '{target}'",
                                  "use a model name or alias from models.yaml")
    # A chain that leads back to where it started (A -> B -> A) is refused: at run time execution also
    # never repeats a deployment, but a cycle in config is always a mistake worth naming.
    graph = {catalog.resolve(m): [catalog.resolve(t) for t in ts] for m, ts in chains.items()}

    def visit(node: str, path: list[str]) -> None:
        for nxt in graph.get(node, []):
            if nxt in path:
                cycle = " -> ".join(path[path.index(nxt):] + [nxt])
                raise ConfigError(cfg_path, f"fallbacks.models.{node}", f"fallback cycle {cycle}",
                                  f"remove '{nxt}' from the chain of '{node}' (or the edge that closes the loop)")
            visit(nxt, path + [nxt])

    for start in graph:
        visit(start, [start])


def fallback_chain(settings: Settings, model: str) -> list[str]:
    """The configured fallback models for a catalog model, resolved, in order."""
    chains = settings.gateway.fallbacks.models
    for name in (model, *settings.catalog.get(model).aliases):
        if name in chains:
            return [settings.catalog.resolve(t) or t for t in chains[name]]
    return []
