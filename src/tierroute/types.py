"""The shapes that flow between tierroute's stages, defined once and imported everywhere.

Wire shapes (``ChatRequest``, ``ChatResponse``, ``ChatChunk``, embeddings) follow OpenAI's chat
schema exactly, so the API layer decodes a request body straight into ``ChatRequest`` (msgspec
validates types and ranges and names the offending field) and encodes a ``ChatResponse`` straight
back. Provider adapters translate between these and each vendor's dialect.

Internal shapes (``Deployment``, ``RouteHints``, ``Attempt``, ``Plan``, ``CallInfo``,
``AttemptRecord``, ``UsageEvent``) carry routing decisions and accounting between stages.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, field

# ---------------------------------------------------------------------------- request


class ImageURL(Struct, omit_defaults=True):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


CacheControl = dict[str, Any]
"""A prompt-cache marker as Anthropic spells it (``{"type": "ephemeral", "ttl": "1h"}``). Carried on
parts, messages and tools so a translation to Anthropic can keep it; UNSET (never encoded) when the
client set none, so OpenAI-shaped bodies stay exactly OpenAI's."""


class TextPart(Struct, tag="text", tag_field="type"):
    text: str
    cache_control: CacheControl | UnsetType = UNSET


class ImagePart(Struct, tag="image_url", tag_field="type"):
    image_url: ImageURL
    cache_control: CacheControl | UnsetType = UNSET


class ThinkingPart(Struct, tag="thinking", tag_field="type", kw_only=True):
    """Reasoning a model wrote in an earlier assistant turn. Only the vendor that wrote it can verify
    it (``signature``, ``redacted``, ``encrypted_content``), so ``origin`` says whose it is and a
    translation to any other vendor drops it (and says so)."""

    thinking: str = ""
    origin: Literal["anthropic", "openai", "gemini"] | UnsetType = UNSET
    signature: str | UnsetType = UNSET  # Anthropic thinking block
    redacted: str | UnsetType = UNSET  # Anthropic redacted_thinking data
    encrypted_content: str | UnsetType = UNSET  # OpenAI Responses reasoning item
    item_id: str | UnsetType = UNSET  # OpenAI Responses reasoning item id


class OpaquePart(Struct, tag="opaque", tag_field="type", kw_only=True):
    """A content block tierroute does not model (an Anthropic ``document``, a server tool result, a
    block type added last month). Kept whole for its own dialect; every other target drops it by
    name in ``X-Tierroute-Dropped``."""

    kind: str
    origin: str
    data: dict[str, Any]


ContentPart = TextPart | ImagePart | ThinkingPart | OpaquePart


class FunctionCall(Struct):
    name: str
    arguments: str = ""


class ToolCall(Struct):  # `type` always encoded: OpenAI requires it both ways
    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class Message(Struct, omit_defaults=True, kw_only=True):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    # A marker on the message as a whole: Anthropic's on a tool_use or tool_result block, which have no
    # part of their own here.
    cache_control: CacheControl | UnsetType = UNSET
    # An assistant turn's earlier reasoning as a chat client got it back (``ResponseMessage.reasoning``).
    reasoning: list[ThinkingPart] | UnsetType = field(default=UNSET, name="reasoning_details")

    def text(self) -> str:
        """The message's text parts joined; images and tool calls contribute nothing."""
        c = self.content
        if c is None:
            return ""
        if isinstance(c, str):
            return c
        return "\n".join(p.text for p in c if isinstance(p, TextPart))

    def has_image(self) -> bool:
        return isinstance(self.content, list) and any(isinstance(p, ImagePart) for p in self.content)


class FunctionDef(Struct, omit_defaults=True, kw_only=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(Struct):
    function: FunctionDef
    type: Literal["function"] = "function"
    cache_control: CacheControl | UnsetType = UNSET


class Reasoning(Struct, omit_defaults=True, kw_only=True):
    """How hard the model should think, whatever dialect asked: Anthropic ``thinking`` (enabled with a
    budget, adaptive, disabled) and ``output_config.effort``, OpenAI ``reasoning_effort`` /
    ``reasoning.effort`` and ``reasoning.summary``, Gemini ``thinkingConfig``. The mapping tables are in
    ``providers/reasoning.py``."""

    mode: Literal["enabled", "adaptive", "disabled"] = "enabled"
    effort: str | None = None  # minimal | low | medium | high | xhigh | max
    budget_tokens: int | None = None
    summary: str | None = None  # auto | concise | detailed (OpenAI Responses)


class Inbound(Struct, kw_only=True):
    """The request as the client sent it, kept beside what tierroute read from it. An adapter whose
    vendor speaks ``dialect`` forwards ``body`` with only the model (and key, base URL) changed, so
    fields and headers tierroute does not know still arrive."""

    dialect: Literal["openai-chat", "openai-responses", "anthropic"]
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)  # vendor headers to forward (no auth)
    query: str = ""  # the query string, e.g. "beta=true"
    # What only this dialect can carry (fields, server tools, beta headers): a translation to any
    # other dialect names these in X-Tierroute-Dropped.
    untranslatable: list[str] = field(default_factory=list)
    continues: str | None = None  # the previous_response_id tierroute expanded into the body (Responses)


class JSONSchemaSpec(Struct, omit_defaults=True, kw_only=True):
    name: str
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(Struct, omit_defaults=True, kw_only=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaSpec | None = None


class StreamOptions(Struct, omit_defaults=True):
    include_usage: bool = False


Temperature = Annotated[float, Meta(ge=0, le=2)]
Probability = Annotated[float, Meta(ge=0, le=1)]
Penalty = Annotated[float, Meta(ge=-2, le=2)]
PositiveInt = Annotated[int, Meta(ge=1)]


class ChatRequest(Struct, omit_defaults=True, kw_only=True):
    """OpenAI ``POST /v1/chat/completions`` body. Unknown fields are ignored, as OpenAI-compatible
    servers commonly do; every known field is validated for type and range."""

    model: str
    messages: Annotated[list[Message], Meta(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    n: Annotated[int, Meta(ge=1, le=128)] | None = None
    stop: str | list[str] | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    seed: int | None = None
    user: str | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    reasoning_effort: str | None = None
    # tierroute's own: routing hints in the body ({"task": ..., "complexity": ...}); never forwarded.
    metadata: dict[str, Any] | None = None
    # Richer than OpenAI chat (set by the inbound decoders, never encoded to an OpenAI vendor as is).
    reasoning: Reasoning | UnsetType = UNSET
    top_k: int | UnsetType = UNSET
    session: str | UnsetType = UNSET  # the client's session id (prompt-cache affinity, prompt_cache_key)
    inbound: Inbound | UnsetType = UNSET

    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def wants_json(self) -> bool:
        return self.response_format is not None and self.response_format.type != "text"

    def has_image(self) -> bool:
        return any(m.has_image() for m in self.messages)

    def reasoning_spec(self) -> Reasoning | None:
        """The reasoning asked for, from ``reasoning`` or OpenAI chat's ``reasoning_effort``."""
        if self.reasoning is not UNSET:
            return self.reasoning  # type: ignore[return-value]
        if self.reasoning_effort:
            if self.reasoning_effort == "none":
                return Reasoning(mode="disabled")
            return Reasoning(effort=self.reasoning_effort)
        return None

    def forwarded(self, dialect: str) -> Inbound | None:
        """The client's own request when it is in ``dialect`` (then an adapter forwards it as sent)."""
        inbound = self.inbound
        if inbound is not UNSET and inbound.dialect == dialect:  # type: ignore[union-attr]
            return inbound  # type: ignore[return-value]
        return None


# ---------------------------------------------------------------------------- response


class PromptTokensDetails(Struct, omit_defaults=True):
    cached_tokens: int = 0  # read from the vendor's prompt cache (OpenAI's name)
    cache_write_tokens: int = 0  # written to it (Anthropic's cache_creation_input_tokens; OpenRouter's name)
    cache_write_1h_tokens: int = 0  # of those, written with the 1-hour TTL (Anthropic's ephemeral_1h split)


class Usage(Struct):
    """``prompt_tokens`` counts every input token, cached or not, as OpenAI does; the details say how
    many of them were read from or written to the vendor's prompt cache."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | UnsetType = UNSET
    # What the answer cost and what the premium-only baseline would have (OpenRouter's `usage.cost`):
    # set by the gateway on the answers it builds, the final stream chunk included.
    cost: float | UnsetType = UNSET
    baseline_cost: float | UnsetType = UNSET

    def cache_read(self) -> int:
        d = self.prompt_tokens_details
        return 0 if d is UNSET else d.cached_tokens  # type: ignore[union-attr]

    def cache_write(self) -> int:
        d = self.prompt_tokens_details
        return 0 if d is UNSET else d.cache_write_tokens  # type: ignore[union-attr]

    def cache_write_1h(self) -> int:
        d = self.prompt_tokens_details
        return 0 if d is UNSET else d.cache_write_1h_tokens  # type: ignore[union-attr]


class ResponseMessage(Struct, kw_only=True):
    # Every field is always encoded, as OpenAI does (role, content null for a pure tool call, refusal).
    content: str | None
    role: Literal["assistant"] = "assistant"
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None
    # What the model thought, when the vendor shows it (Anthropic thinking blocks, OpenAI reasoning
    # items): handed back to clients of dialects that carry it, and to chat clients as
    # `reasoning_details`, which they send back on the assistant turn (as OpenRouter's clients do).
    reasoning: list[ThinkingPart] | UnsetType = field(default=UNSET, name="reasoning_details")


FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class Choice(Struct, kw_only=True):
    index: int
    message: ResponseMessage
    finish_reason: FinishReason | None
    logprobs: Any = None


class ChatResponse(Struct, kw_only=True):
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    object: Literal["chat.completion"] = "chat.completion"
    system_fingerprint: str | None = None
    # The vendor's own answer body, when it was forwarded in the caller's dialect: sent as is.
    raw: bytes | UnsetType = UNSET
    stop_sequence: str | UnsetType = UNSET  # the stop sequence that ended the answer, when the vendor says


class ToolCallDelta(Struct, omit_defaults=True, kw_only=True):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: dict[str, str] | None = None


class Delta(Struct, omit_defaults=True, kw_only=True):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    refusal: str | None = None


class ChunkChoice(Struct, kw_only=True):
    index: int
    delta: Delta
    finish_reason: FinishReason | None = None
    logprobs: Any = None


class ChatChunk(Struct, kw_only=True):
    """One ``chat.completion.chunk``. The last chunk of a stream whose caller asked for
    ``stream_options.include_usage`` has ``choices == []`` and ``usage`` set."""

    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    system_fingerprint: str | None = None
    # The vendor's own stream event(s) behind this chunk, when forwarded in the caller's dialect (then
    # the API layer writes these bytes, and the parsed fields serve accounting only).
    raw: bytes | UnsetType = UNSET


# ---------------------------------------------------------------------------- embeddings


class EmbeddingRequest(Struct, omit_defaults=True, kw_only=True):
    model: str
    # A string, a list of strings, or token ids (a list of ints or of int lists): checked by the API layer,
    # since msgspec cannot tell list types apart inside one union.
    input: str | list[Any]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: PositiveInt | None = None
    user: str | None = None


class Embedding(Struct):
    index: int
    embedding: list[float] | str
    object: Literal["embedding"] = "embedding"


class EmbeddingUsage(Struct):
    prompt_tokens: int = 0
    total_tokens: int = 0


class EmbeddingResponse(Struct):
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
    object: Literal["list"] = "list"


# ---------------------------------------------------------------------------- routing and execution


class Deployment(Struct, kw_only=True):
    """One place a catalog model can be served: a provider account (base URL + key) and the
    vendor's own name for the model. ``id`` is ``provider/model`` and keys quotas and health."""

    id: str
    model: str  # catalog name
    provider: str
    dialect: Literal["openai", "anthropic", "gemini"]
    base_url: str
    upstream_model: str
    api_key: str = field(default="")
    timeout_s: float = 60.0
    headers: dict[str, str] = field(default_factory=dict)
    reasoning: bool = False  # the model takes a reasoning / thinking parameter (catalog capability)
    max_output: int = 0  # the model's output limit (0 = unknown): a forwarded max_tokens above it is cut
    responses_api: bool = False  # the provider serves OpenAI's /responses (else Responses are translated)
    cache_hints: bool = False  # add prompt-cache hints to translated requests (providers.*.prompt_cache_hints)

    def __repr__(self) -> str:  # the key never reaches a log line or a traceback
        return f"Deployment({self.id!r} -> {self.base_url})"

    __str__ = __repr__


TaskType = Literal["documentation", "coding", "architecture", "reasoning", "vision", "chat"]
TASK_TYPES: tuple[str, ...] = ("documentation", "coding", "architecture", "reasoning", "vision", "chat")


class RouteHints(Struct, kw_only=True):
    """What the caller said about the request (headers ``X-Tierroute-*`` or body ``metadata``)."""

    task: str | None = None
    complexity: float | None = None
    willingness_to_pay: float | None = None


class Classification(Struct, kw_only=True):
    task: str
    complexity: float
    task_confidence: float = 1.0
    complexity_confidence: float = 1.0
    source: str = "hint"  # hint | rules | learned
    reasons: list[str] = field(default_factory=list)


class Candidate(Struct, kw_only=True):
    """A model the router considered, kept or dropped, and why."""

    model: str
    kept: bool
    reason: str
    est_cost_usd: float | None = None


class Attempt(Struct, kw_only=True):
    deployment: Deployment
    reason: str
    # Cascade step (routing): when Plan.cascade, an answer from step k that fails
    # routing.cascade.check_answer escalates to the first attempt with a higher step;
    # attempts sharing a step are plain fallbacks for one another.
    step: int = 0


class Plan(Struct, kw_only=True):
    requested_model: str
    route: str  # how the candidates were chosen, e.g. "rule:coding-simple" or "model:gpt-4o"
    attempts: list[Attempt]
    classification: Classification | None = None
    candidates: list[Candidate] = field(default_factory=list)
    cascade: bool = False
    # The request's affinity session key (routing/affinity.py), found while planning, so recording what
    # the answer left warm does not hash the stable prefix again; None: no session.
    session: str | None = None


class RateLimitInfo(Struct, kw_only=True):
    """What a vendor's response headers said about its own limits."""

    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None


class CallInfo(Struct, kw_only=True):
    """Filled in by an adapter during one upstream call, read by execution and usage."""

    status: int | None = None
    ratelimit: RateLimitInfo | None = None
    first_byte_at: float | None = None  # time.perf_counter() of the first body byte
    forwarded: bool = False  # the client's own request went out (same dialect), not a translation
    dropped: list[str] = field(default_factory=list)  # what the translation could not carry


class AttemptRecord(Struct, kw_only=True):
    deployment: str
    outcome: str  # "ok" or an error class name
    latency_ms: float
    detail: str | None = None


class UsageEvent(Struct, kw_only=True):
    """One finished request, as the usage store keeps it. Never the prompt or the answer."""

    request_id: str
    ts: float  # unix seconds at arrival
    key_id: str | None  # hashed virtual key id, or None for the master key
    endpoint: str  # chat | messages | embeddings
    requested_model: str
    model: str | None  # catalog model that answered
    provider: str | None
    deployment: str | None
    route: str | None
    task: str | None
    complexity: float | None
    prompt_tokens: int = 0  # every input token, cached or not
    completion_tokens: int = 0
    cache_read_tokens: int = 0  # of prompt_tokens, read from the vendor's prompt cache
    cache_write_tokens: int = 0  # of prompt_tokens, written to it
    cost_usd: float = 0.0
    nocache_cost_usd: float = 0.0  # the same tokens with every input token at the input price
    baseline_model: str | None = None
    baseline_cost_usd: float = 0.0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    stream: bool = False
    cache: str = "miss"  # miss | hit-exact | hit-semantic | off
    cache_similarity: float | None = None
    saved_usd: float = 0.0
    attempts: list[AttemptRecord] = field(default_factory=list)
    fallbacks: int = 0
    escalated: bool = False
    escalation_reason: str | None = None
    status: int = 200
    error_class: str | None = None


json_encoder = msgspec.json.Encoder()
