"""The OpenAI Responses API (POST /v1/responses, its SSE events, GET / DELETE /v1/responses/{id},
input_items, previous_response_id from tierroute's own store) through the official `openai` SDK, and
Anthropic's count_tokens through the `anthropic` SDK, against a real gateway process."""

from __future__ import annotations

import json
import subprocess
import sys

import anthropic
import httpx
import openai
import pytest
from e2e_helpers import CLIENT_KEY, auth, module_stack, recorded, recorded_to

from gateway_process import GatewayProcess, SimThread

TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
CALL = 'What is the weather in Paris? [[sim:call:get_weather {"city":"Paris"}]]'


env, sim, gw = module_stack()


@pytest.fixture(scope="module")
def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=CLIENT_KEY, max_retries=0)


def make_key(gw: GatewayProcess, name: str) -> str:
    out = subprocess.run([sys.executable, "-m", "tierroute", "keys", "create", "--config", str(gw.config),
                          "--name", name], cwd=gw.workdir, capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def test_create(client: openai.OpenAI) -> None:
    raw = client.responses.with_raw_response.create(model="gpt-4.1", input="What is a closure? (responses plain)")
    r = raw.parse()
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    assert r.output[-1].type == "message" and r.output[-1].role == "assistant"
    assert r.output_text.startswith("[gpt-4.1] answer to: What is a closure?")
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert raw.headers["x-tierroute-model"] == "gpt-4.1"


@pytest.mark.parametrize("model", ["gpt-4.1", "claude-sonnet-4", "gemini-2.0-flash"])
def test_stream_events(client: openai.OpenAI, model: str) -> None:
    prompt = f"Explain TCP slow start. (responses stream {model})"
    plain = client.responses.create(model=model, input=prompt)
    types, deltas, final = [], [], None
    with client.responses.create(model=model, input=prompt, stream=True) as stream:
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type == "response.completed":
                final = event.response
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert "response.output_text.delta" in types and "response.output_text.done" in types
    assert types[-1] == "response.completed"
    assert types.index("response.output_item.added") < types.index("response.output_text.delta") \
        < types.index("response.output_text.done") < types.index("response.output_item.done")
    assert final is not None and final.status == "completed"
    text = "".join(deltas)
    assert text and final.output_text == text
    # Same shape as the non-streamed answer: one assistant message with one output_text part.
    assert [o.type for o in final.output] == [o.type for o in plain.output]
    assert final.output_text.split("\n")[0] == plain.output_text.split("\n")[0]
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["gpt-4.1", "claude-sonnet-4", "gemini-2.0-flash"])
def test_function_tool_round_trip(client: openai.OpenAI, model: str) -> None:
    first = client.responses.create(model=model, input=CALL, tools=TOOLS)
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"} and call.call_id
    second = client.responses.create(
        model=model, previous_response_id=first.id, tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}])
    assert second.status == "completed"
    assert "The tool returned:" in second.output_text and "sunny, 21 C" in second.output_text
    assert not [o for o in second.output if o.type == "function_call"]


@pytest.mark.parametrize("model", ["gpt-4.1", "claude-sonnet-4"])
def test_response_names_its_previous_response_id(client: openai.OpenAI, model: str) -> None:
    """OpenAI's Response object echoes previous_response_id (clients chain turns by it)."""
    first = client.responses.create(model=model, input=f"Turn one. (echo {model})")
    second = client.responses.create(model=model, input="Turn two.", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert client.responses.retrieve(second.id).previous_response_id == first.id


@pytest.mark.parametrize("model", ["gpt-4.1", "claude-sonnet-4"])
def test_function_tool_round_trip_streamed(client: openai.OpenAI, model: str) -> None:
    with client.responses.stream(model=model, input=CALL, tools=TOOLS) as stream:
        first = stream.get_final_response()
    call = next(o for o in first.output if o.type == "function_call")
    with client.responses.stream(model=model, previous_response_id=first.id, tools=TOOLS,
                                 input=[{"type": "function_call_output", "call_id": call.call_id,
                                         "output": "cloudy"}]) as stream:
        second = stream.get_final_response()
    assert "cloudy" in second.output_text


@pytest.mark.parametrize("second_model", ["claude-sonnet-4", "gemini-2.0-flash"])
def test_previous_response_id_across_vendors(sim: SimThread, client: openai.OpenAI, second_model: str) -> None:
    first = client.responses.create(model="gpt-4.1", input=f"Name a colour. (cross-vendor turn one, {second_model})")
    sim.reset()
    second = client.responses.create(model=second_model, input="And another one?", previous_response_id=first.id)
    assert second.status == "completed"
    assert second.output_text.startswith(f"[{'claude-sonnet-4-20250514' if 'claude' in second_model else second_model}]")
    reqs = recorded(sim)
    assert len(reqs) == 1
    body = json.dumps(reqs[0]["body"])
    assert reqs[0]["dialect"] == ("anthropic" if "claude" in second_model else "gemini")
    assert json.dumps(first.output_text)[1:-1] in body  # the first turn's answer, as context
    assert "Name a colour. (cross-vendor turn one" in body and "And another one?" in body


def test_previous_response_id_is_expanded_for_openai_too(sim: SimThread, client: openai.OpenAI) -> None:
    """The vendor never saw tierroute's response id: the history goes upstream, not the id."""
    first = client.responses.create(model="gpt-4.1", input="First turn, same vendor.")
    sim.reset()
    client.responses.create(model="gpt-4.1", input="Second turn.", previous_response_id=first.id)
    got = recorded_to(sim, "/v1/responses")[-1]["body"]
    assert "previous_response_id" not in got
    text = json.dumps(got["input"])
    assert "First turn, same vendor." in text and json.dumps(first.output_text)[1:-1] in text


def test_retrieve_input_items_and_delete(gw: GatewayProcess, client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-4.1", input="Keep me. (retrieve)")
    got = client.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == r.output_text and got.status == "completed"
    items = httpx.get(f"{gw.url}/v1/responses/{r.id}/input_items", headers=auth(), timeout=10)
    assert items.status_code == 200
    data = items.json()
    assert data["object"] == "list" and "Keep me. (retrieve)" in json.dumps(data["data"])
    deleted = client.responses.delete(r.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    gone = httpx.delete(f"{gw.url}/v1/responses/{r.id}", headers=auth(), timeout=10)
    assert gone.status_code == 404 and gone.json()["error"]["param"] == "id"
    with pytest.raises(openai.BadRequestError) as exc:  # the deleted id cannot be continued either
        client.responses.create(model="gpt-4.1", input="more", previous_response_id=r.id)
    assert exc.value.body["param"] == "previous_response_id"


def test_a_key_cannot_read_another_keys_response(gw: GatewayProcess) -> None:
    a = openai.OpenAI(base_url=gw.url + "/v1", api_key=make_key(gw, "resp-a"), max_retries=0)
    b = openai.OpenAI(base_url=gw.url + "/v1", api_key=make_key(gw, "resp-b"), max_retries=0)
    mine = a.responses.create(model="gpt-4.1", input="Tenant A's secret plan. (tenancy)")
    assert a.responses.retrieve(mine.id).id == mine.id
    with pytest.raises(openai.NotFoundError):
        b.responses.retrieve(mine.id)
    r = httpx.get(f"{gw.url}/v1/responses/{mine.id}/input_items", headers=auth(b.api_key), timeout=10)
    assert r.status_code == 404 and "secret" not in r.text
    with pytest.raises(openai.BadRequestError) as exc:
        b.responses.create(model="gpt-4.1", input="continue", previous_response_id=mine.id)
    assert exc.value.body["param"] == "previous_response_id" and "secret" not in json.dumps(exc.value.body)
    with pytest.raises(openai.NotFoundError):
        b.responses.delete(mine.id)
    assert a.responses.retrieve(mine.id).id == mine.id  # B's delete did not touch it


def test_bad_previous_response_id(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.responses.create(model="gpt-4.1", input="hi", previous_response_id="resp_does_not_exist")
    assert exc.value.status_code == 400
    assert exc.value.body["param"] == "previous_response_id"
    assert "resp_does_not_exist" in exc.value.body["message"]


@pytest.mark.parametrize("model", ["gpt-4.1", "claude-sonnet-4"])
def test_malformed_body_names_the_field(gw: GatewayProcess, model: str) -> None:
    r = httpx.post(gw.url + "/v1/responses", json={"model": model, "input": 42}, headers=auth(), timeout=10)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "input" and "input" in err["message"]
    r = httpx.post(gw.url + "/v1/responses", json={"model": model, "input": "hi", "tools": "all"}, headers=auth(),
                   timeout=10)
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools"
    r = httpx.post(gw.url + "/v1/responses", content=b"{not json", headers=auth(), timeout=10)
    assert r.status_code == 400 and "error" in r.json()


# ------------------------------------------------------------------------- count_tokens

@pytest.fixture(scope="module")
def claude(gw: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=CLIENT_KEY, max_retries=0)


def test_count_tokens_anthropic_model_is_the_vendors(sim: SimThread, claude: anthropic.Anthropic) -> None:
    sim.reset()
    raw = claude.messages.with_raw_response.count_tokens(
        model="claude-sonnet-4", system="Be brief.",
        messages=[{"role": "user", "content": "How many tokens is this sentence, roughly?"}])
    count = raw.parse()
    assert count.input_tokens > 0
    assert raw.headers["x-tierroute-token-count"].startswith("vendor:")
    assert "claude-sonnet-4" in raw.headers["x-tierroute-token-count"]
    upstream = recorded_to(sim, "/v1/messages/count_tokens")
    assert len(upstream) == 1 and upstream[0]["body"]["model"] == "claude-sonnet-4-20250514"
    assert not recorded_to(sim, "/v1/messages") or all(r["path"].endswith("count_tokens")
                                                     for r in recorded_to(sim, "/v1/messages"))


@pytest.mark.parametrize("model", ["gpt-4.1", "gemini-2.0-flash"])
def test_count_tokens_other_models_are_estimated(sim: SimThread, claude: anthropic.Anthropic, model: str) -> None:
    sim.reset()
    text = "How many tokens is this sentence, roughly? " * 10
    raw = claude.messages.with_raw_response.count_tokens(model=model, messages=[{"role": "user", "content": text}])
    count = raw.parse()
    assert raw.headers["x-tierroute-token-count"] == "estimate"
    assert len(text) // 8 <= count.input_tokens <= len(text)  # ~4 characters a token
    assert recorded(sim) == []  # nothing was sent anywhere
