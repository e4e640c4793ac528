"""The model catalog: every model, its tier, list prices, context window, capabilities and the
deployments that serve it. Cost is always computed here, from the catalog's numbers."""

from __future__ import annotations

from collections.abc import Iterable

from msgspec import Struct, field

from tierroute.errors import ModelNotFound
from tierroute.types import Deployment

TIERS = ("premium", "standard", "specialist")


class ModelInfo(Struct, kw_only=True):
    name: str
    tier: str
    input_per_m: float
    output_per_m: float
    context_window: int
    max_output: int
    vision: bool = False
    tools: bool = False
    json_mode: bool = False
    strengths: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    kind: str = "chat"
    enabled: bool = True
    deployments: list[Deployment] = field(default_factory=list)

    @property
    def provider(self) -> str:
        return self.deployments[0].provider if self.deployments else ""

    @property
    def free(self) -> bool:
        return self.input_per_m == 0 and self.output_per_m == 0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1_000_000


class Catalog:
    """Models by name, with aliases resolved. Built by ``config.loader``."""

    def __init__(self, models: Iterable[ModelInfo]) -> None:
        self.models: dict[str, ModelInfo] = {m.name: m for m in models}
        self.aliases: dict[str, str] = {}
        for m in self.models.values():
            for a in m.aliases:
                self.aliases[a] = m.name
        self._deployments = {d.id: d for m in self.models.values() for d in m.deployments}

    def resolve(self, name: str) -> str | None:
        """Catalog name for a model name or alias, or None."""
        if name in self.models:
            return name
        return self.aliases.get(name)

    def get(self, name: str) -> ModelInfo:
        resolved = self.resolve(name)
        if resolved is None:
            raise ModelNotFound(f"The model '{name}' does not exist in the tierroute catalog.", param="model")
        return self.models[resolved]

    def deployment(self, dep_id: str) -> Deployment | None:
        return self._deployments.get(dep_id)

    def deployments(self) -> list[Deployment]:
        return list(self._deployments.values())

    def enabled(self, kind: str = "chat") -> list[ModelInfo]:
        return [m for m in self.models.values() if m.enabled and m.kind == kind]

    def tier(self, tier: str) -> list[ModelInfo]:
        """Enabled chat models of a tier, cheapest first."""
        ms = [m for m in self.enabled() if m.tier == tier]
        return sorted(ms, key=lambda m: (m.input_per_m + m.output_per_m, m.name))

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        m = self.models.get(model) or self.models.get(self.aliases.get(model, ""))
        return m.cost(prompt_tokens, completion_tokens) if m else 0.0
