"""The OpenAI Responses API (``POST /v1/responses``) through the official SDK and raw SSE."""

from __future__ import annotations

import json
import math

import httpx
import openai
import pytest

from .conftest import KEY, ThreadedSim, sse_events

MODEL = "gpt-5"
AUTH = {"Authorization": f"Bearer {KEY}"}
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city", "strict": True,
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False}}  # fmt: skip


def test_string_input_gives_the_response_object(oai: openai.OpenAI) -> None:
    raw = oai.responses.with_raw_response.create(model=MODEL, input="Explain routers", instructions="Be brief.",
                                                 metadata={"run": "1"}, store=False, prompt_cache_key="k1")  # fmt: skip
    r = raw.parse()
    assert (
        r.id.startswith("resp_") and r.object == "response" and r.status == "completed" and r.model == MODEL
    )
    assert r.incomplete_details is None and r.error is None and r.created_at > 0
    assert r.instructions == "Be brief." and r.metadata == {"run": "1"} and r.store is False
    assert r.prompt_cache_key == "k1" and r.tool_choice == "auto" and r.parallel_tool_calls is True
    [msg] = r.output
    assert (
        msg.type == "message"
        and msg.id.startswith("msg_")
        and msg.role == "assistant"
        and msg.status == "completed"
    )
    assert msg.content[0].type == "output_text" and msg.content[0].annotations == []
    assert r.output_text.startswith(f"[{MODEL}] answer to: Explain routers")
    u = r.usage
    assert u.input_tokens == math.ceil(len("Be brief.\nExplain routers") / 4)
    assert (
        u.output_tokens == math.ceil(len(r.output_text) / 4)
        and u.total_tokens == u.input_tokens + u.output_tokens
    )
    assert u.input_tokens_details.cached_tokens == 0 and u.output_tokens_details.reasoning_tokens == 0
    assert raw.headers["x-request-id"].startswith("req_") and "x-ratelimit-remaining-requests" in raw.headers


def test_item_list_input_with_every_item_kind(oai: openai.OpenAI) -> None:
    items = [
        {"role": "developer", "content": "Follow the rules."},
        {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Sys."}]},
        {"role": "user", "content": [{"type": "input_text", "text": "Look"},
                                     {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-opaque"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Seen.", "annotations": []}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "5 degrees"},
        {"type": "custom_tool_call", "call_id": "call_2", "name": "patch", "input": "diff"},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "applied"},
        {"type": "item_reference", "id": "msg_old"},
        {"role": "user", "content": "Now summarise"},
    ]  # fmt: skip
    r = oai.responses.create(model=MODEL, input=items, tools=[WEATHER, {"type": "web_search"},  # type: ignore[list-item]
                             {"type": "custom", "name": "patch", "description": "apply a patch"}],
                             include=["reasoning.encrypted_content"], truncation="auto",
                             extra_body={"a_field_from_the_future": True})  # fmt: skip
    assert r.status == "completed" and r.output_text.startswith(f"[{MODEL}] answer to: Now summarise")
    text = "Follow the rules.\nSys.\nLook\nSeen.\n5 degrees\napplied\nNow summarise"
    assert r.usage.input_tokens == math.ceil(len(text) / 4) + 85
    assert [t.type for t in r.tools] == ["function", "web_search", "custom"]


def test_reasoning_item_summary_and_encrypted_content(oai: openai.OpenAI) -> None:
    r = oai.responses.create(model=MODEL, input="Explain routers", reasoning={"effort": "high", "summary": "auto"},
                             include=["reasoning.encrypted_content"])  # fmt: skip
    reasoning, msg = r.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_") and reasoning.encrypted_content
    assert reasoning.summary[0].type == "summary_text" and reasoning.summary[0].text.startswith(
        "The user asks"
    )
    used = r.usage.output_tokens_details.reasoning_tokens
    assert used == math.ceil(len(reasoning.summary[0].text) / 4)
    assert r.usage.output_tokens == used + math.ceil(len(r.output_text) / 4) and msg.type == "message"
    assert r.reasoning.effort == "high" and r.reasoning.summary == "auto"
    hidden = oai.responses.create(model=MODEL, input="Explain routers", reasoning={"effort": "high"})
    assert hidden.output[0].type == "reasoning" and hidden.output[0].summary == []
    assert (
        hidden.output[0].encrypted_content is None
        and hidden.usage.output_tokens_details.reasoning_tokens == used
    )


def test_function_call_loop(oai: openai.OpenAI) -> None:
    ask = 'Weather please [[sim:call:get_weather {"city": "Oslo"}]]'
    r = oai.responses.create(model=MODEL, input=ask, tools=[WEATHER])  # type: ignore[list-item]
    [call] = r.output
    assert call.type == "function_call" and call.id.startswith("fc_") and call.call_id.startswith("call_")
    assert (
        call.name == "get_weather"
        and json.loads(call.arguments) == {"city": "Oslo"}
        and call.status == "completed"
    )
    follow = [{"role": "user", "content": ask}, call.model_dump(exclude_none=True),
              {"type": "function_call_output", "call_id": call.call_id, "output": "5 degrees and rain"}]  # fmt: skip
    r2 = oai.responses.create(model=MODEL, input=follow, tools=[WEATHER])  # type: ignore[arg-type, list-item]
    assert r2.output[0].type == "message" and "The tool returned: 5 degrees and rain" in r2.output_text


def test_custom_tool_call(oai: openai.OpenAI) -> None:
    tool = {"type": "custom", "name": "apply_patch", "description": "Apply a unified diff"}
    r = oai.responses.create(model=MODEL, input='Fix it [[sim:call:apply_patch {"input": "*** Begin Patch"}]]',
                             tools=[tool])  # type: ignore[list-item]  # fmt: skip
    [call] = r.output
    assert call.type == "custom_tool_call" and call.name == "apply_patch" and call.input == "*** Begin Patch"


def test_json_schema_format_and_max_output_tokens(oai: openai.OpenAI) -> None:
    fmt = {"type": "json_schema", "name": "person", "strict": True,
           "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
                      "additionalProperties": False}}  # fmt: skip
    r = oai.responses.create(model=MODEL, input="Describe Ada", text={"format": fmt})  # type: ignore[typeddict-item]
    assert set(json.loads(r.output_text)) == {"name"} and r.text.format.type == "json_schema"
    r = oai.responses.create(model=MODEL, input="Go [[sim:long]]", max_output_tokens=20)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.output[0].status == "incomplete" and r.usage.output_tokens == 20 and r.max_output_tokens == 20


def test_stream_through_the_sdk_matches_the_plain_answer(oai: openai.OpenAI) -> None:
    kw = {"model": MODEL, "input": "Explain routers", "reasoning": {"effort": "low", "summary": "auto"}}
    plain = oai.responses.create(**kw)  # type: ignore[call-overload]
    with oai.responses.stream(**kw) as s:  # type: ignore[arg-type]
        events = list(s)
        final = s.get_final_response()
    assert final.output_text == plain.output_text and final.usage.output_tokens == plain.usage.output_tokens
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed" and "response.reasoning_summary_text.delta" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == plain.output_text


def test_raw_sse_event_sequence(sim: ThreadedSim) -> None:
    body = {
        "model": MODEL,
        "input": 'x [[sim:call:get_weather {"city": "Oslo"}]]',
        "tools": [WEATHER],
        "stream": True,
    }
    r = httpx.post(sim.base_url + "/v1/responses", json=body, headers=AUTH)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [(n, json.loads(d)) for n, d in sse_events(r.text)]
    assert all(n == d["type"] for n, d in events)  # every event is named, and the data repeats the name
    names = [n for n, _ in events]
    assert names[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert names[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = events[2][1]
    assert (
        added["item"]["type"] == "function_call"
        and added["item"]["arguments"] == ""
        and added["output_index"] == 0
    )
    deltas = [d for n, d in events if n == "response.function_call_arguments.delta"]
    assert json.loads("".join(d["delta"] for d in deltas)) == {"city": "Oslo"}
    assert all(d["item_id"] == added["item"]["id"] for d in deltas)
    assert events[0][1]["response"]["status"] == "in_progress" and events[0][1]["response"]["output"] == []
    done = events[-1][1]["response"]
    assert (
        done["status"] == "completed"
        and done["output"][0]["name"] == "get_weather"
        and done["usage"]["total_tokens"]
    )


def test_text_stream_parts(sim: ThreadedSim) -> None:
    r = httpx.post(
        sim.base_url + "/v1/responses", json={"model": MODEL, "input": "hi", "stream": True}, headers=AUTH
    )
    events = [json.loads(d) for _, d in sse_events(r.text)]
    names = [e["type"] for e in events]
    assert names[2:4] == ["response.output_item.added", "response.content_part.added"]
    assert names[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]  # fmt: skip
    delta = next(e for e in events if e["type"] == "response.output_text.delta")
    assert {"item_id", "output_index", "content_index", "delta", "sequence_number"} <= set(delta)


def test_errors_in_openai_shape(oai: openai.OpenAI, http: httpx.Client, sim: ThreadedSim) -> None:
    r = http.post("/v1/responses", json={"model": MODEL, "input": "hi", "max_output_tokens": 4}, headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_output_tokens"
    r = http.post(
        "/v1/responses", json={"model": MODEL, "input": "hi", "tools": [{"type": "function"}]}, headers=AUTH
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_required_parameter"
    r = http.post("/v1/responses", json={"input": "hi"}, headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    assert http.post("/v1/responses", json={"model": MODEL, "input": "hi"}).status_code == 401
    with pytest.raises(openai.RateLimitError):
        oai.responses.create(model=MODEL, input="hi [[sim:error=429]]")
    with pytest.raises(openai.BadRequestError) as ei:
        oai.responses.create(model="tiny-ctx", input="y" * 400)
    assert ei.value.body["code"] == "context_length_exceeded"


def test_stream_error_is_an_error_event_then_response_failed(sim: ThreadedSim) -> None:
    body = {"model": MODEL, "input": "Explain routers [[sim:error=stream_error]]", "stream": True}
    events = [
        json.loads(d)
        for _, d in sse_events(httpx.post(sim.base_url + "/v1/responses", json=body, headers=AUTH).text)
    ]
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert (
        events[-1]["response"]["status"] == "failed"
        and events[-1]["response"]["error"]["code"] == "server_error"
    )
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
