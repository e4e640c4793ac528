"""``[[sim:call:NAME {...}]]`` drives a tool loop in every dialect, and a tool is called only when
the prompt asks for it: a real model does not call a tool for "hi"."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai

from tierroute.sim.answer import Prompt, generate, parse_directives
from tierroute.sim.tools import call_directives, strip_calls

from .conftest import KEY

ARGS = {"path": "src/a b.py", "note": 'say "hi" ]] not the end', "n": [1, {"k": None}]}
ASK = f"Open the file [[sim:call:read_file {json.dumps(ARGS)}]] please"
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
OAI_TOOL = {"type": "function", "function": {"name": "read_file", "parameters": SCHEMA}}
ANT_TOOL = {"name": "read_file", "description": "Read a file", "input_schema": SCHEMA}
RESULT = "line 1: import os\nline 2: print('ok')"


def test_the_directive_is_parsed_up_to_its_own_closing_brackets() -> None:
    [(name, args, start, end, raw)] = call_directives(ASK)
    assert name == "read_file" and args == ARGS and ASK[end:] == " please" and raw == json.dumps(ARGS)
    assert strip_calls(ASK) == "Open the file  please"
    assert call_directives("[[sim:call:ping]]")[0][:2] == ("ping", None)
    assert _gen("[[sim:call:grep]]")[0].arguments == "{}"
    assert call_directives("[[sim:call:x {not json}]]") == []


def _gen(question: str, **kw: object) -> list:  # type: ignore[type-arg]
    p = Prompt(model="m", text=question, question=question, tools=[("read_file", SCHEMA), ("grep", {})], **kw)  # type: ignore[arg-type]
    return generate(p, 1, 4096, parse_directives(question, "m"))[0].tool_calls


def test_no_call_unless_asked() -> None:
    assert _gen("hi") == []
    assert _gen("What does this repository do?") == []
    assert _gen("read the file") == []  # "read" is not the tool's name
    assert [c.name for c in _gen("Use read_file on setup.py")] == ["read_file"]
    assert [c.name for c in _gen("GREP for TODO")] == ["grep"]  # a name as a word, in any case
    assert _gen("hi", tool_choice="required")[0].name == "read_file"  # a forced choice still calls
    assert _gen("[[sim:call:not_offered {}]]") == []


def test_parallel_calls_and_one_per_turn() -> None:
    two = '[[sim:call:read_file {"path": "a"}]] [[sim:call:grep {"q": "b"}]]'
    calls = _gen(two)
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("read_file", {"path": "a"}),
        ("grep", {"q": "b"}),
    ]
    assert len({c.id for c in calls}) == 2
    assert _gen(two, tool_result="a", tool_results=1) == []
    seq = [_gen(two, parallel_tools=False, tool_result="x" if k else None, tool_results=k) for k in range(3)]
    assert [[c.name for c in s] for s in seq] == [["read_file"], ["grep"], []]


def test_openai_chat_loop(oai: openai.OpenAI) -> None:
    msgs: list[dict] = [{"role": "user", "content": ASK}]  # type: ignore[type-arg]
    r = oai.chat.completions.create(model="gpt-4o", messages=msgs, tools=[OAI_TOOL])  # type: ignore[arg-type, list-item]
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and call.function.arguments == json.dumps(
        ARGS
    )  # as written
    msgs += [
        r.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": RESULT},
    ]
    r2 = oai.chat.completions.create(model="gpt-4o", messages=msgs, tools=[OAI_TOOL])  # type: ignore[arg-type, list-item]
    assert (
        r2.choices[0].finish_reason == "stop"
        and f"The tool returned: {RESULT}" in r2.choices[0].message.content
    )
    hi = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], tools=[OAI_TOOL]
    )  # type: ignore[list-item]
    assert hi.choices[0].finish_reason == "stop" and hi.choices[0].message.tool_calls is None


def test_anthropic_loop_with_claude_code_reminders(ant: anthropic.Anthropic) -> None:
    msgs: list[dict] = [{"role": "user", "content": ASK}]  # type: ignore[type-arg]
    m = ant.messages.create(model="claude-sonnet-4-5", max_tokens=500, messages=msgs, tools=[ANT_TOOL])  # type: ignore[arg-type, list-item]
    use = m.content[-1]
    assert m.stop_reason == "tool_use" and use.type == "tool_use" and use.input == ARGS
    msgs += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": [{"type": "text", "text": RESULT}]},
                                          {"type": "text", "text": "<system-reminder>keep going</system-reminder>"}]}]  # fmt: skip
    m2 = ant.messages.create(model="claude-sonnet-4-5", max_tokens=500, messages=msgs, tools=[ANT_TOOL])  # type: ignore[arg-type, list-item]
    assert m2.stop_reason == "end_turn" and f"The tool returned: {RESULT}" in m2.content[0].text
    assert (
        "answer to: Open the file" in m2.content[0].text
    )  # the question is still the user's, not the reminder
    hi = ant.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}],
                             tools=[ANT_TOOL])  # type: ignore[list-item]  # fmt: skip
    assert hi.stop_reason == "end_turn"


def test_anthropic_disable_parallel_tool_use_calls_one_per_turn(ant: anthropic.Anthropic) -> None:
    ask = '[[sim:call:read_file {"path": "a"}]] [[sim:call:read_file {"path": "b"}]]'
    kw = {"model": "claude-sonnet-4-5", "max_tokens": 500, "tools": [ANT_TOOL]}
    both = ant.messages.create(messages=[{"role": "user", "content": ask}], **kw)  # type: ignore[arg-type]
    assert [b.input for b in both.content if b.type == "tool_use"] == [{"path": "a"}, {"path": "b"}]
    one = ant.messages.create(
        messages=[{"role": "user", "content": ask}],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        **kw,
    )  # type: ignore[arg-type]
    assert [b.input for b in one.content if b.type == "tool_use"] == [{"path": "a"}]


def test_responses_loop(oai: openai.OpenAI) -> None:
    tool = {"type": "function", "name": "read_file", "parameters": SCHEMA}
    r = oai.responses.create(model="gpt-5", input=ASK, tools=[tool])  # type: ignore[list-item]
    call = r.output[0]
    assert call.type == "function_call" and json.loads(call.arguments) == ARGS
    follow = [{"role": "user", "content": ASK}, call.model_dump(exclude_none=True),
              {"type": "function_call_output", "call_id": call.call_id, "output": RESULT}]  # fmt: skip
    r2 = oai.responses.create(model="gpt-5", input=follow, tools=[tool])  # type: ignore[arg-type, list-item]
    assert f"The tool returned: {RESULT}" in r2.output_text
    assert oai.responses.create(model="gpt-5", input="hi", tools=[tool]).output[0].type == "message"  # type: ignore[list-item]


def test_gemini_loop(http: httpx.Client) -> None:
    url, headers = "/v1beta/models/gemini-2.5-flash:generateContent", {"x-goog-api-key": KEY}
    tools = [{"functionDeclarations": [{"name": "read_file", "parameters": SCHEMA}]}]
    ask = {"contents": [{"role": "user", "parts": [{"text": ASK}]}], "tools": tools}
    call = http.post(url, json=ask, headers=headers).json()["candidates"][0]["content"]["parts"][0][
        "functionCall"
    ]
    assert call == {"name": "read_file", "args": ARGS}
    follow = {**ask, "contents": [*ask["contents"], {"role": "model", "parts": [{"functionCall": call}]},
              {"role": "user", "parts": [{"functionResponse": {"name": "read_file", "response": {"content": "ok"}}}]}]}  # fmt: skip
    text = http.post(url, json=follow, headers=headers).json()["candidates"][0]["content"]["parts"][0]["text"]
    assert 'The tool returned: {"content":"ok"}' in text
    hi = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "tools": tools}
    assert "text" in http.post(url, json=hi, headers=headers).json()["candidates"][0]["content"]["parts"][0]
