"""Request / answer / context builders shared by the cache tests."""

from __future__ import annotations

from tierroute.cache import CacheContext, CacheControls
from tierroute.types import ChatRequest, ChatResponse, Choice, Message, ResponseMessage, Tool, Usage

REDIS_URL = "redis://127.0.0.1:6379/0"


def req(text: str, *, system: str | None = None, model: str = "gpt-4o-mini", **kw) -> ChatRequest:
    msgs = [Message(role="system", content=system)] if system else []
    msgs.append(Message(role="user", content=text))
    return ChatRequest(model=model, messages=msgs, **kw)


def answer(text: str, model: str = "gpt-4o-mini", finish: str = "stop") -> ChatResponse:
    return ChatResponse(id="chatcmpl-orig", created=1700000000, model=model,
                        choices=[Choice(index=0, message=ResponseMessage(content=text), finish_reason=finish)],
                        usage=Usage(prompt_tokens=12, completion_tokens=34, total_tokens=46))


def ctx(tenant: str = "team-a", route: str = "gpt-4o-mini", **controls) -> CacheContext:
    return CacheContext(tenant=tenant, route=route, controls=CacheControls(**controls))


def tool(name: str) -> Tool:
    from tierroute.types import FunctionDef

    return Tool(function=FunctionDef(name=name, parameters={"type": "object", "properties": {}}))


