"""Bad input gets a 4xx in OpenAI's error shape naming the field; never a 500 or a traceback."""

from __future__ import annotations

import httpx
import pytest

from gateway_process import MASTER_KEY, GatewayProcess


def post(gw: GatewayProcess, body: bytes | dict, key: str | None = MASTER_KEY, path: str = "/v1/chat/completions"
         ) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if isinstance(body, dict):
        return httpx.post(gw.url + path, json=body, headers=headers, timeout=30)
    return httpx.post(gw.url + path, content=body, headers={**headers, "Content-Type": "application/json"},
                      timeout=30)


def error(r: httpx.Response) -> dict:
    e = r.json()["error"]
    assert set(e) == {"message", "type", "param", "code"}
    assert "Traceback" not in e["message"]
    return e


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "gpt-4o"}, "messages"),
    ({"model": "gpt-4o", "messages": "hi"}, "messages"),
    ({"model": "gpt-4o", "messages": []}, "messages"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
    ({"model": "gpt-4o", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 7}, "temperature"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"}, "max_tokens"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "audio"}]}]}, "messages[0].content"),
])
def test_malformed_request_names_the_field(gateway: GatewayProcess, body: dict, param: str) -> None:
    r = post(gateway, body)
    assert r.status_code == 400
    e = error(r)
    assert e["type"] == "invalid_request_error"
    assert e["param"] is not None and e["param"].startswith(param), e


def test_invalid_json(gateway: GatewayProcess) -> None:
    r = post(gateway, b'{"model": "gpt-4o", "messages": [')
    assert r.status_code == 400
    assert error(r)["type"] == "invalid_request_error"


def test_unknown_model(gateway: GatewayProcess) -> None:
    r = post(gateway, {"model": "gpt-9-ultra", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 404
    e = error(r)
    assert e["code"] == "model_not_found" and e["param"] == "model" and "gpt-9-ultra" in e["message"]


def test_oversized_body(gateway: GatewayProcess) -> None:
    big = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "' + b"x" * (21 * 1024 * 1024) + b'"}]}'
    r = post(gateway, big)
    assert r.status_code == 413
    assert error(r)["type"] == "invalid_request_error"


@pytest.mark.parametrize("key", [None, "sk-wrong"])
def test_missing_or_wrong_key_is_401(gateway: GatewayProcess, key: str | None) -> None:
    r = post(gateway, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, key=key)
    assert r.status_code == 401
    assert error(r)["type"] == "authentication_error"
    for path in ("/v1/models", "/health", "/health/readiness"):
        assert httpx.get(gateway.url + path).status_code == 401
    assert httpx.get(gateway.url + "/health/liveness").status_code == 200


def test_keys_never_logged(gateway: GatewayProcess) -> None:
    post(gateway, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi [[sim:error=401]]"}]})
    log = gateway.log()
    assert "sk-test-openai" not in log and MASTER_KEY not in log
