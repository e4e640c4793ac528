"""What the three dialect modules share: the error they raise, the answer context, JSON and SSE
encoding, ids, and the ``Dialect`` interface the server drives.

A dialect turns a request into a ``Prompt`` (raising ``SimError`` for a request its vendor would
reject), and renders answers, streams, errors and rate-limit headers in its vendor's exact shapes.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import msgspec
import numpy as np
from aiohttp import web

from tierroute.sim.answer import Choice, Prompt
from tierroute.sim.cache import NO_CACHE, CacheUse

encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder()
_ids = random.Random()


def decode(raw: bytes) -> Any:
    """Raises ``msgspec.DecodeError`` on a body that is not JSON."""
    return _decoder.decode(raw)


def new_id(n: int = 24) -> str:
    return f"{_ids.getrandbits(n * 4):0{n}x}"


class SimError(Exception):
    """A request the vendor would refuse. ``kind`` is one of: invalid, auth_missing, auth_invalid,
    not_found, rate_limit, server, unavailable, overloaded, context_length, vision."""

    def __init__(self, kind: str, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.param = param
        self.code = code


@dataclass(slots=True)
class Rate:
    """One model's rate-limit window as the response headers report it."""

    limit_requests: int
    remaining_requests: int
    limit_tokens: int
    remaining_tokens: int
    reset_s: float  # seconds until the window resets
    exceeded: bool = False


@dataclass(slots=True)
class Answer:
    """Everything a dialect needs to render one successful answer."""

    prompt: Prompt
    choices: list[Choice]
    prompt_tokens: int
    completion_tokens: int
    id: str
    created: int
    include_usage: bool = False  # OpenAI stream_options.include_usage
    cache: CacheUse = NO_CACHE  # the prompt-cache reads and writes this prompt made


@dataclass(slots=True)
class Stream:
    """An answer as SSE events. ``final_at`` is the index of the first event that ends the stream
    cleanly (a cut happens before it); ``content`` flags the events that carry model output, which
    are the ones paced by ``tokens_per_s``. ``error_event``, when set, builds the mid-stream
    failure from the number of events already sent (for dialects that number their events)."""

    events: list[bytes]
    content: list[bool]
    final_at: int
    error_event: Callable[[int], bytes] | None = field(default=None)


class Dialect:
    name = ""
    stream_content_type = "text/event-stream; charset=utf-8"
    sse_end = b"\n\n"
    bad_json_message = "The request body is not valid JSON."

    def api_key(self, request: web.Request) -> str | None:
        raise NotImplementedError

    def check_headers(self, request: web.Request) -> None:
        """Raise ``SimError`` for a header the vendor requires (after the key was accepted)."""

    def answer_id(self) -> str:
        return new_id(24)

    def request_id(self) -> dict[str, str]:
        """The header naming this request, as the vendor sends it on answers."""
        return {}

    def error(
        self, err: SimError, *, status: int | None = None, retry_after: float | None = None, model: str = ""
    ) -> tuple[int, bytes, dict[str, str]]:
        raise NotImplementedError

    def stream_error_event(self, model: str) -> bytes:
        raise NotImplementedError

    def fault_error(self, kind: str, model: str) -> SimError:
        """The error a random or forced fault raises (429 is built by the server with Retry-After)."""
        if kind == "500":
            return SimError("server", "internal error")
        if kind == "529":
            return SimError("overloaded", "overloaded")
        if kind == "stream_error":
            return SimError("server", "internal error")
        return SimError("unavailable", "unavailable")

    def context_error(self, prompt: Prompt, prompt_tokens: int, window: int) -> SimError | None:
        raise NotImplementedError

    def vision_error(self, prompt: Prompt) -> SimError:
        raise NotImplementedError

    def rate_headers(self, rate: Rate) -> dict[str, str]:
        return {}

    def render(self, answer: Answer) -> bytes:
        raise NotImplementedError

    def stream(self, answer: Answer, chunk_chars: int) -> Stream:
        raise NotImplementedError


def sse(data: Any, event: str | None = None, end: bytes = b"\n\n") -> bytes:
    body = b"data: " + encode(data) + end
    return b"event: " + event.encode() + b"\n" + body if event else body


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def now() -> int:
    return int(time.time())


def go_duration(seconds: float) -> str:
    """OpenAI's reset headers: Go's duration format (``20ms``, ``1s``, ``6m0s``, ``1h2m3s``)."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m}m{s}s" if h else f"{m}m{s}s"


def seconds_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


@lru_cache(maxsize=2048)
def _unit_vector(text: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    v = np.random.default_rng(seed).standard_normal(dim)
    v /= np.linalg.norm(v)
    return v


def embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector from a hash of the text (the same text, the same vector)."""
    return _unit_vector(text, dim).tolist()


def embedding_base64(text: str, dim: int) -> str:
    return base64.b64encode(_unit_vector(text, dim).astype("<f4").tobytes()).decode()


def text_of(value: Any) -> str:
    """A tool result or other free-form payload as text (strings as they are, the rest as JSON)."""
    return value if isinstance(value, str) else encode(value).decode()
