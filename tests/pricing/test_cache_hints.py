"""Prompt-cache hints on translated requests: Anthropic breakpoints placed by tierroute where they pay
(tools, system prompt, the conversation so far) within the vendor's limit of four, a client's own
markers kept (at most four), and OpenAI's prompt_cache_key from the session; all off per provider."""

from __future__ import annotations

import msgspec

from tierroute.providers.anthropic_wire import build_request
from tierroute.providers.openai_translate import chat_body
from tierroute.types import (
    ChatRequest,
    Deployment,
    FunctionDef,
    Message,
    TextPart,
    Tool,
)


def dep(dialect: str, hints: bool = True) -> Deployment:
    return Deployment(id=f"p/{dialect}", model="m", provider="p", dialect=dialect, base_url="http://x",  # type: ignore[arg-type]
                      upstream_model="m-1", cache_hints=hints)


def conversation(**kw: object) -> ChatRequest:
    return ChatRequest(model="m", messages=[
        Message(role="system", content="You are a careful reviewer. " * 100),
        Message(role="user", content="first question"),
        Message(role="assistant", content="first answer"),
        Message(role="user", content="second question")],
        tools=[Tool(function=FunctionDef(name="a", parameters={"type": "object"})),
               Tool(function=FunctionDef(name="b", parameters={"type": "object"}))], **kw)  # type: ignore[arg-type]


def markers(body: dict) -> list[str]:  # type: ignore[type-arg]
    out = [f"tools.{t['name']}" for t in body.get("tools", []) if "cache_control" in t]
    out += [f"system[{i}]" for i, b in enumerate(body["system"] if isinstance(body.get("system"), list) else [])
            if "cache_control" in b]
    out += [f"messages[{i}]" for i, t in enumerate(body["messages"]) for b in t["content"] if "cache_control" in b]
    return out


def test_breakpoints_placed_where_they_pay() -> None:
    body = build_request(conversation(), dep("anthropic"), stream=False)
    assert markers(body) == ["tools.b", "system[0]", "messages[2]"]  # last tool, system, end of conversation
    assert len(markers(body)) <= 4


def test_no_breakpoints_when_switched_off() -> None:
    assert markers(build_request(conversation(), dep("anthropic", hints=False), stream=False)) == []


def test_client_markers_kept_and_limited_to_four() -> None:
    req = conversation()
    req.messages[1] = Message(role="user", content=[TextPart(text=f"part {i}", cache_control={"type": "ephemeral"})
                                                    for i in range(6)])
    dropped: list[str] = []
    body = build_request(req, dep("anthropic"), stream=False, dropped=dropped)
    assert markers(body) == ["messages[0]"] * 4  # the client's, the last four of six, none added
    assert dropped.count("cache_control (over 4 breakpoints)") == 2


def test_openai_prompt_cache_key_from_the_session() -> None:
    req = conversation(session="sess-42")
    assert chat_body(req, dep("openai"), [], stream=False)["prompt_cache_key"] == "sess-42"
    assert "prompt_cache_key" not in chat_body(req, dep("openai", hints=False), [], stream=False)
    assert "prompt_cache_key" not in msgspec.json.decode(msgspec.json.encode(
        chat_body(conversation(), dep("openai"), [], stream=False)))
