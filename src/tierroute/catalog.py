"""The model catalog: every model, its tier, list prices, context window, capabilities and the
deployments that serve it. Cost is always computed here, from the catalog's numbers.

It also answers "which model is this id?" for the ids coding agents really send: a catalog name,
an alias, a deployment's upstream (vendor) id, a dated snapshot or ``-latest`` form of any of
those, and, for an id the catalog lacks but whose family it knows (``families:`` in models.yaml),
the family's provider serving that id, priced from the family's newest catalog model.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from msgspec import Struct, field, structs

from tierroute.errors import ModelNotFound
from tierroute.types import Deployment, Usage

TIERS = ("premium", "standard", "specialist")

# A vendor's dated snapshot (claude-sonnet-4-5-20250929, gpt-4o-2024-08-06) or moving alias (-latest):
# stripped to find the catalog model the snapshot belongs to.
_DATED = re.compile(r"(?:-\d{8}|-\d{4}-\d{2}-\d{2}|-latest)$")
# Memo of pattern lookups for ids the exact table lacks; bounded so random ids cannot grow it forever.
_MEMO_MAX = 4096


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
    # Prompt-cache list prices (USD per 1M tokens), where the vendor publishes them; None = unknown,
    # priced as plain input (so a cache never looks cheaper than the vendor says it is).
    cache_write_per_m: float | None = None  # a write with the default TTL (Anthropic: 5 minutes)
    cache_write_1h_per_m: float | None = None  # a write with the 1-hour TTL (Anthropic)
    cache_read_per_m: float | None = None

    @property
    def provider(self) -> str:
        return self.deployments[0].provider if self.deployments else ""

    @property
    def free(self) -> bool:
        return self.input_per_m == 0 and self.output_per_m == 0

    def cost(self, prompt_tokens: int, completion_tokens: int, cache_read: int = 0, cache_write: int = 0,
             cache_write_1h: int = 0) -> float:
        """USD for one answer. ``prompt_tokens`` counts every input token (OpenAI's convention): those
        read from the vendor's prompt cache and those written to it (``cache_write_1h`` of them with
        the 1-hour TTL) are priced at their own rates, the rest at the input price."""
        if not (cache_read or cache_write):
            return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1_000_000
        inp = self.input_per_m
        read = self.cache_read_per_m if self.cache_read_per_m is not None else inp
        write = self.cache_write_per_m if self.cache_write_per_m is not None else inp
        write_1h = self.cache_write_1h_per_m if self.cache_write_1h_per_m is not None else write
        uncached = max(0, prompt_tokens - cache_read - cache_write)
        return (uncached * inp + (cache_write - cache_write_1h) * write + cache_write_1h * write_1h
                + cache_read * read + completion_tokens * self.output_per_m) / 1_000_000

    def cost_of(self, u: Usage) -> float:
        """``cost`` of a vendor's usage, its cache reads and writes apart."""
        return self.cost(u.prompt_tokens, u.completion_tokens, u.cache_read(), u.cache_write(), u.cache_write_1h())


class Family(Struct, kw_only=True):
    """Ids the catalog lacks but can still serve: glob ``match`` patterns, the catalog model whose
    prices (and capabilities) stand in for them, and the provider that serves them."""

    name: str
    match: list[str]
    price_from: str
    provider: str = ""


class FamilyMatch(Struct, kw_only=True):
    family: Family
    pattern: str
    info: ModelInfo  # the price_from model with one deployment serving the requested id

    @property
    def route(self) -> str:
        return f"family:{self.family.name} -> {self.family.price_from} prices"


class Catalog:
    """Models by name, with aliases resolved. Built by ``config.loader``."""

    def __init__(self, models: Iterable[ModelInfo], families: Iterable[Family] = ()) -> None:
        self.models: dict[str, ModelInfo] = {m.name: m for m in models}
        self.aliases: dict[str, str] = {}
        for m in self.models.values():
            for a in m.aliases:
                self.aliases[a] = m.name
        self.families: list[Family] = list(families)
        self._deployments = {d.id: d for m in self.models.values() for d in m.deployments}
        # Every exact id that names a model: names, aliases, then upstream ids (which never shadow a name).
        self._ids: dict[str, str] = {}
        for m in self.models.values():
            for d in m.deployments:
                self._ids.setdefault(d.upstream_model, m.name)
        self._ids.update(self.aliases)
        self._ids.update({n: n for n in self.models})
        self._memo: dict[str, str | None] = {}
        self._family_memo: dict[str, tuple[Family, str] | None] = {}

    # ------------------------------------------------------------------ ids

    def resolve(self, name: str) -> str | None:
        """Catalog name for a model name, alias, upstream id or a dated / -latest form of one, or None."""
        hit = self._ids.get(name)
        if hit is not None or not name:
            return hit
        if name in self._memo:
            return self._memo[name]
        found = None
        stem = name
        while (m := _DATED.search(stem)) is not None and found is None:
            stem = stem[:m.start()]
            found = self._ids.get(stem)
        _remember(self._memo, name, found)
        return found

    def family(self, model_id: str) -> FamilyMatch | None:
        """The family serving an id the catalog does not know (first matching pattern, file order),
        or None. The match is memoised; the deployment is built per call from the price_from
        model's current deployment, so it follows that model's base URL and key (offline mode)."""
        if model_id in self._family_memo:
            hit = self._family_memo[model_id]
        else:
            hit = next(((f, p) for f in self.families for p in f.match if fnmatch.fnmatchcase(model_id, p)), None)
            _remember(self._family_memo, model_id, hit)
        if hit is None:
            return None
        fam, pattern = hit
        base = self.models.get(fam.price_from)
        if base is None:
            return None
        deps = [d for d in base.deployments if not fam.provider or d.provider == fam.provider][:1]
        served = [structs.replace(d, id=f"{d.provider}/{model_id}", upstream_model=model_id) for d in deps]
        info = structs.replace(base, deployments=served, enabled=base.enabled and bool(served), aliases=[])
        return FamilyMatch(family=fam, pattern=pattern, info=info)

    def get(self, name: str) -> ModelInfo:
        resolved = self.resolve(name)
        if resolved is None:
            raise ModelNotFound(self.not_found_message(name), param="model")
        return self.models[resolved]

    def not_found_message(self, name: str) -> str:
        known = [m.name for m in self.models.values() if m.enabled][:8]
        return (f"The model '{name}' does not exist in the tierroute catalog. Known ids include "
                f"{', '.join(known)}; GET /v1/models lists them all (and their aliases), or use "
                f"a tier ({', '.join(TIERS)}) or 'auto'.")

    # ------------------------------------------------------------------ models

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
        name = self.resolve(model)
        return self.models[name].cost(prompt_tokens, completion_tokens) if name else 0.0


def _remember(memo: dict, key: str, value: object) -> None:
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = value
