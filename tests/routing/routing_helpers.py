"""Helpers the routing tests share (a module of its own: every test folder has a conftest.py)."""

from __future__ import annotations

from tierroute.types import ChatRequest, Message


def chat(text: str, model: str = "auto", **kw) -> ChatRequest:  # noqa: ANN003
    return ChatRequest(model=model, messages=[Message(role="user", content=text)], **kw)
