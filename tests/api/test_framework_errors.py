"""The HTTP framework's own refusals (unknown route, wrong method) are JSON in the path's dialect, and
GET /v1/models/{id} resolves the ids agents send (dated snapshots) or says 404 in JSON."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
from e2e_helpers import CLIENT_KEY, auth, sim_and_gateway

from gateway_process import GatewayProcess


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with sim_and_gateway(tmp_path_factory.mktemp("framework")) as (_, g):
        yield g


def openai_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"] and isinstance(err["type"], str)
    return err


def anthropic_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["type"] == "error" and set(body) <= {"type", "error", "request_id"}
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"] and isinstance(err["type"], str)
    return err


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", ["/v1/nothing", "/nothing", "/v1/chat/nothing", "/v1/responses/a/b/c"])
def test_unknown_route_is_openai_json_404(gw: GatewayProcess, method: str, path: str) -> None:
    err = openai_error(httpx.request(method, gw.url + path, headers=auth(), timeout=10), 404)
    assert path in err["message"]


def test_wrong_method_is_openai_json_405(gw: GatewayProcess) -> None:
    r = httpx.get(gw.url + "/v1/chat/completions", headers=auth(), timeout=10)
    err = openai_error(r, 405)
    assert "GET" in err["message"] and "POST" in r.headers["allow"]
    openai_error(httpx.put(gw.url + "/v1/embeddings", headers=auth(), timeout=10), 405)
    openai_error(httpx.post(gw.url + "/v1/models", headers=auth(), timeout=10), 405)


def test_openai_sdk_sees_not_found(gw: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=CLIENT_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as exc:
        client.get("/nothing", cast_to=object)
    assert isinstance(exc.value.body, dict) and exc.value.body.get("message")


@pytest.mark.parametrize("path", ["/v1/messages/nothing", "/v1/messages/count_tokens/extra", "/v1/messages/batches/x/y"])
def test_unknown_messages_route_is_anthropic_json_404(gw: GatewayProcess, path: str) -> None:
    r = httpx.post(gw.url + path, json={}, timeout=10,
                   headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"})
    err = anthropic_error(r, 404)
    assert err["type"] == "not_found_error" and path in err["message"]


def test_wrong_method_under_messages_is_anthropic_json(gw: GatewayProcess) -> None:
    r = httpx.get(gw.url + "/v1/messages", timeout=10,
                  headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"})
    err = anthropic_error(r, 405)
    # A client's mistake, not "an unexpected error internal to Anthropic's systems" (api_error).
    assert err["type"] == "invalid_request_error"


def test_anthropic_sdk_sees_not_found(gw: GatewayProcess) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key=CLIENT_KEY, max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as exc:
        client.post("/v1/messages/nothing", cast_to=object, body={})
    assert exc.value.body["type"] == "error"


@pytest.mark.parametrize(("model_id", "alias_of"), [
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude-sonnet-4", None),
    ("gpt-4.1", None),
])
def test_model_by_id(gw: GatewayProcess, model_id: str, alias_of: str | None) -> None:
    r = httpx.get(f"{gw.url}/v1/models/{model_id}", headers=auth(), timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == model_id and body["object"] == "model"
    if alias_of:
        assert body.get("alias_of") == alias_of
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=CLIENT_KEY, max_retries=0)
    assert client.models.retrieve(model_id).id == model_id


def test_unknown_model_by_id_is_json_404(gw: GatewayProcess) -> None:
    err = openai_error(httpx.get(f"{gw.url}/v1/models/no-such-model-xyz", headers=auth(), timeout=10), 404)
    assert "no-such-model-xyz" in err["message"] and err.get("param") == "model"
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=CLIENT_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model-xyz")
