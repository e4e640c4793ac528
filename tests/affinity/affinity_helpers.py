"""Helpers the affinity tests share."""

from __future__ import annotations

import os

from tierroute.types import ChatRequest, ImagePart, ImageURL, Message, PromptTokensDetails, TextPart, Usage

REDIS_URL = os.environ.get("TIERROUTE_TEST_REDIS", "redis://127.0.0.1:6379/0")

# "abcd " * 32000 as the system prompt and "hello there" as the user turn: estimate_prompt_tokens
# says 40014; with 1600 repeats, 2014.
BIG, SMALL = 32000, 1600


def turn(n: int = BIG, model: str = "auto", session: str | None = "sess-1", history: int = 0,
         marks: bool = False, image: bool = False, **kw) -> ChatRequest:  # noqa: ANN003
    system: str | list = "abcd " * n
    if marks:
        system = [TextPart(text="abcd " * n, cache_control={"type": "ephemeral"})]
    msgs = [Message(role="system", content=system), Message(role="user", content="hello there")]
    for i in range(history):
        msgs += [Message(role="assistant", content=f"answer {i}"), Message(role="user", content=f"more {i}")]
    if image:
        msgs[-1] = Message(role="user", content=[TextPart(text="what is this"),
                                                 ImagePart(image_url=ImageURL(url="data:image/png;base64,AA=="))])
    if session is not None:
        kw["session"] = session
    return ChatRequest(model=model, messages=msgs, **kw)


def usage(prompt: int, completion: int = 50, read: int = 0, write: int = 0, write_1h: int = 0) -> Usage:
    d = PromptTokensDetails(cached_tokens=read, cache_write_tokens=write, cache_write_1h_tokens=write_1h)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                 prompt_tokens_details=d)
