"""Each cascade check fails on a crafted answer and passes a good one."""

from __future__ import annotations

import msgspec
from routing_helpers import chat

from tierroute.routing import check_answer, judge_answer
from tierroute.types import ChatResponse, Choice, ResponseFormat, ResponseMessage, Usage


def answer(text: str | None, finish: str = "stop", refusal: str | None = None) -> ChatResponse:
    return ChatResponse(id="x", created=0, model="m", usage=Usage(), choices=[
        Choice(index=0, message=ResponseMessage(content=text, refusal=refusal), finish_reason=finish)])


Q = chat("Explain recursion.")


def test_good_answer_passes() -> None:
    assert check_answer(Q, answer("Recursion is when a function calls itself."), "chat") is None


def test_empty_answer() -> None:
    assert check_answer(Q, answer("   "), "chat") == "empty answer"
    assert check_answer(Q, answer(None), "chat") == "empty answer"


def test_refusal() -> None:
    assert check_answer(Q, answer("I'm sorry, but I can't help with that."), "chat").startswith("refusal")
    assert check_answer(Q, answer("I cannot assist with that request."), "chat").startswith("refusal")
    assert check_answer(Q, answer(None, refusal="Policy"), "chat").startswith("refusal")
    # discussing refusals is not refusing
    assert check_answer(Q, answer("Sorry for the delay! Here is the answer: 42."), "chat") is None
    assert check_answer(Q, answer("I can't help but admire recursion: a function calls itself."), "chat") is None


def test_cut_off_by_token_limit() -> None:
    assert "finish_reason length" in check_answer(Q, answer("Recursion is when", finish="length"), "chat")


def test_invalid_json_when_json_was_asked() -> None:
    req = chat("List three colours as JSON", response_format=ResponseFormat(type="json_object"))
    assert "invalid JSON" in check_answer(req, answer('{"colours": ["red", "green"'), "chat")
    assert check_answer(req, answer('{"colours": ["red", "green", "blue"]}'), "chat") is None
    assert check_answer(req, answer('```json\n{"a": 1}\n```'), "chat") is None
    # JSON not asked for: prose is fine
    assert check_answer(Q, answer("{ not json"), "chat") is None


def test_code_that_does_not_parse_for_a_coding_task() -> None:
    req = chat("Write a Python function that adds two numbers.")
    bad = "Here you go:\n```python\ndef add(a, b)\n    return a + b\n```"
    good = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```"
    assert "does not parse" in check_answer(req, answer(bad), "coding")
    assert check_answer(req, answer(good), "coding") is None
    assert check_answer(req, answer(bad), "chat") is None  # only checked for coding tasks
    assert "unterminated" in check_answer(req, answer("```python\ndef f():\n    pass\n\n```\n```"), "coding")


async def test_judge_verdicts() -> None:
    seen = []

    async def send(verdict: str):
        async def _send(r):
            seen.append(r)
            return answer(verdict)
        return _send

    assert await judge_answer(Q, answer("42"), "mistral-small", await send("FAIL")) == \
        "judge mistral-small said FAIL"
    assert await judge_answer(Q, answer("42"), "mistral-small", await send("PASS")) is None
    assert seen[0].model == "mistral-small" and "42" in msgspec.json.encode(seen[0]).decode()

    async def broken(r):
        raise RuntimeError("judge down")

    assert await judge_answer(Q, answer("42"), "mistral-small", broken) is None
