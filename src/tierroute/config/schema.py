"""The shape of config/tierroute.yaml and config/models.yaml, validated by msgspec.

Sections owned by other packages (``cache``, ``limits``, ``usage``, ``routing``) are kept as raw
mappings here and converted by ``config.loader`` with that package's own struct, so each package
documents its own settings next to the code that reads them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct, field

NonNegative = Annotated[float, Meta(ge=0)]
Port = Annotated[int, Meta(ge=0, le=65535)]


class ServerConfig(Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 4000
    # Guards every route but /health/liveness. Empty means "no auth", allowed only on loopback hosts.
    master_key: str = ""
    max_body_mb: Annotated[float, Meta(gt=0)] = 20.0
    # Deadline for one whole request, every retry and fallback included.
    request_timeout_s: Annotated[float, Meta(gt=0)] = 120.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False
    # Web origins (scheme://host[:port]) whose pages may call the API from a browser (CORS). Empty:
    # a browser request from any other origin than the gateway's own is refused.
    cors_origins: list[str] = field(default_factory=list)


class ProviderConfig(Struct, kw_only=True, forbid_unknown_fields=True):
    dialect: Literal["openai", "anthropic", "gemini"]
    base_url: str
    api_key: str = ""
    enabled: bool = True
    timeout_s: Annotated[float, Meta(gt=0)] = 60.0
    headers: dict[str, str] = field(default_factory=dict)
    # Local servers (Ollama, vLLM) need no key.
    requires_key: bool = True
    # The provider serves OpenAI's Responses API (/responses): a Responses request is then forwarded as
    # sent, else translated to chat completions.
    responses_api: bool = False
    # Prompt-cache hints on translated requests (the client's own markers always pass): for Anthropic,
    # cache breakpoints on the tools, the system prompt and the conversation so far; for OpenAI,
    # prompt_cache_key from the session. Off for vendors that refuse fields they do not know.
    prompt_cache_hints: bool = False


class SimulatorConfig(Struct, kw_only=True, forbid_unknown_fields=True):
    # auto: use the built-in simulator when no provider key is set at all; on: always; off: never.
    mode: Literal["auto", "on", "off"] = "auto"
    config: str | None = None  # a simulator YAML (latency, faults); None = its defaults


class FallbackConfig(Struct, kw_only=True, forbid_unknown_fields=True):
    # model -> models to try, in order, when it fails. Tier -> its models in order of preference.
    models: dict[str, list[str]] = field(default_factory=dict)
    tiers: dict[str, list[str]] = field(default_factory=dict)


class RetryConfig(Struct, kw_only=True, forbid_unknown_fields=True):
    # Retries of the same deployment for retryable errors (429, 5xx, timeouts) before falling back.
    max_retries: Annotated[int, Meta(ge=0, le=10)] = 1
    backoff_base_s: NonNegative = 0.2
    backoff_max_s: NonNegative = 8.0
    # A Retry-After longer than this is not waited for: the next deployment is tried instead.
    max_retry_after_s: NonNegative = 5.0
    # Attempts (deployments) tried for one request, at most.
    max_attempts: Annotated[int, Meta(ge=1, le=20)] = 4


class GatewayConfig(Struct, kw_only=True, forbid_unknown_fields=True):
    server: ServerConfig = field(default_factory=ServerConfig)
    catalog: str = "models.yaml"
    routing_rules: str = "routing_rules.yaml"
    rate_limits: str = "rate_limits.yaml"
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    fallbacks: FallbackConfig = field(default_factory=FallbackConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    baseline_model: str = "claude-opus-4"
    routing: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, Any] = field(default_factory=dict)


Capability = Literal["vision", "tools", "json", "reasoning"]
Tier = Literal["premium", "standard", "specialist"]


class DeploymentSpec(Struct, kw_only=True, forbid_unknown_fields=True):
    provider: str
    upstream: str


class ModelSpec(Struct, kw_only=True, forbid_unknown_fields=True):
    tier: Tier
    input_per_m: NonNegative
    output_per_m: NonNegative
    context_window: Annotated[int, Meta(gt=0)]
    max_output: Annotated[int, Meta(ge=0)] = 4096
    provider: str | None = None
    upstream: str | None = None
    deployments: list[DeploymentSpec] = field(default_factory=list)
    capabilities: list[Capability] = field(default_factory=list)
    strengths: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    kind: Literal["chat", "embedding"] = "chat"
    enabled: bool = True
    # Prompt-cache list prices (USD per 1M tokens): a cache write, and a cache hit (read).
    cache_write_per_m: NonNegative | None = None
    cache_write_1h_per_m: NonNegative | None = None
    cache_read_per_m: NonNegative | None = None


class FamilySpec(Struct, kw_only=True, forbid_unknown_fields=True):
    # Glob patterns of ids the catalog lacks (`claude-opus-*`), tried in file order after every exact id.
    match: list[str]
    # The catalog model whose prices and capabilities stand in for the family (its newest member).
    price_from: str
    # Which of price_from's providers serves the family; default: its first deployment's.
    provider: str | None = None


class CatalogFile(Struct, kw_only=True, forbid_unknown_fields=True):
    models: dict[str, ModelSpec]
    families: dict[str, FamilySpec] = field(default_factory=dict)
