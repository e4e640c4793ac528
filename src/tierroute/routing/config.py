"""The ``routing:`` section of config/tierroute.yaml."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

Share = Annotated[float, Meta(ge=0, le=1)]


class ClassifierConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # The learned layer embeds the prompt (a few ms on a worker thread) and votes on the task type
    # when the fast rules are unsure; off keeps classification under a millisecond.
    learned: bool = True
    # Below this rules-layer confidence the learned layer is consulted.
    min_confidence: Share = 0.6


class CascadeConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # A cheap judge model asked "does this answer the question?" after the built-in checks pass;
    # None turns the judge off (the built-in checks always run).
    judge_model: str | None = None
    judge_max_tokens: Annotated[int, Meta(ge=1)] = 5


class AffinityConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Keep a session on the deployment that holds its warm prompt cache, and price candidates with
    # that cache (routing/affinity.py). Shared through Redis when limits.redis_url is set.
    enabled: bool = True
    # How long a session's cache counts as warm after its last answer; None = the vendor's own TTL
    # (routing/affinity.py VENDOR_CACHE: Anthropic 5 min or 1 h, OpenAI 5 min, DeepSeek 1 h, ...).
    ttl_s: Annotated[float, Meta(gt=0)] | None = None
    # A request without a session id is recognised by a hash of its stable prefix (system prompt,
    # tools, first user turn) only when that prefix is at least this long (~4 characters a token):
    # shorter prompts are below every vendor's cacheable minimum.
    min_prefix_tokens: Annotated[int, Meta(ge=0)] = 1024
    # In-process store: at most this many sessions (the oldest are forgotten first).
    max_sessions: Annotated[int, Meta(ge=1)] = 100_000


class RoutingConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # A router trained with `tierroute router train` (a .npz file); used for `model: auto`.
    router: str | None = None
    # Share of requests, in [0, 1], the caller is willing to send to strong models when the
    # trained router (or the complexity score) decides; per request: X-Tierroute-Willingness-To-Pay.
    willingness_to_pay: Share = 0.3
    classifier: ClassifierConfig = msgspec.field(default_factory=ClassifierConfig)
    cascade: CascadeConfig = msgspec.field(default_factory=CascadeConfig)
    # Drop candidates whose estimated cost for this request is above this (USD); None = no cap.
    max_cost_per_request_usd: Annotated[float, Meta(gt=0)] | None = None
    # Output tokens assumed for cost estimates when the request sets no max_tokens.
    expected_output_tokens: Annotated[int, Meta(ge=1)] = 500
    affinity: AffinityConfig = msgspec.field(default_factory=AffinityConfig)
