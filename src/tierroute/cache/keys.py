"""What must match exactly before similarity is considered, and the exact-match key.

The partition is a hash over everything that can change the answer apart from the wording of the
new user turn: tenant, route, system prompt, earlier turns, tools and tool choice, response format
and sampling parameters. The exact key adds the (whitespace-normalised) new turn itself.
"""

from __future__ import annotations

import hashlib
import re

import msgspec

from tierroute.types import ChatRequest, Message

from .controls import CacheContext

_SPACE = re.compile(r"\s+")
_enc = msgspec.json.Encoder(order="deterministic")

# Request fields that change what a model answers (everything but stream/stream_options/user/metadata:
# metadata carries routing hints, which the API layer folds into ctx.route).
_ANSWER_FIELDS = ("tools", "tool_choice", "parallel_tool_calls", "response_format", "n", "stop", "max_tokens",
                  "max_completion_tokens", "temperature", "top_p", "presence_penalty", "frequency_penalty",
                  "seed", "logprobs", "top_logprobs", "reasoning_effort", "reasoning", "top_k")


def normalise_text(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def new_user_turn(req: ChatRequest) -> Message | None:
    """The last message if it is a user turn, else None (a tool result or an assistant prefill)."""
    last = req.messages[-1]
    return last if last.role == "user" else None


def semantic_text(req: ChatRequest) -> str | None:
    """The text the semantic layer embeds, or None when the turn cannot be compared by meaning
    (not a user turn, carries an image, or has no text)."""
    turn = new_user_turn(req)
    if turn is None or turn.has_image():
        return None
    text = normalise_text(turn.text())
    return text or None


def _digest(obj: object) -> str:
    return hashlib.blake2b(_enc.encode(obj), digest_size=16).hexdigest()


def partition_key(req: ChatRequest, ctx: CacheContext) -> str:
    earlier = req.messages[:-1] if new_user_turn(req) is not None else req.messages
    # The system prompt is part of `earlier`; normalise whitespace of text parts only where harmless.
    params = {f: v for f in _ANSWER_FIELDS if (v := getattr(req, f)) is not None and v is not msgspec.UNSET}
    return _digest(["v1", ctx.tenant, ctx.route, msgspec.to_builtins(earlier), msgspec.to_builtins(params)])


def exact_key(req: ChatRequest, ctx: CacheContext, partition: str | None = None) -> str:
    part = partition or partition_key(req, ctx)
    turn = new_user_turn(req)
    if turn is None:
        return _digest([part, "whole"])
    content = turn.content
    body = normalise_text(content) if isinstance(content, str) else msgspec.to_builtins(content)
    return _digest([part, turn.name, body])
