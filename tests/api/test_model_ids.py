"""The ids coding agents send, end to end: a real `tierroute serve` (offline: the simulator serves
every provider) answers claude-opus-5-5, a dated snapshot and an unknown member of a known family,
and 404s a truly unknown id; GET /v1/models/{id} (api.models.get_model) describes the same ids."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway_process import CONFIG, MASTER_KEY, GatewayProcess
from tierroute.api import models
from tierroute.api.keys import GATEWAY
from tierroute.config import load_settings
from tierroute.gateway import Gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory):
    g = GatewayProcess(workdir=tmp_path_factory.mktemp("gw")).start()
    yield g
    g.stop()


def _chat(gw: GatewayProcess, model: str) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers=gw.headers(), timeout=30,
                      json={"model": model, "messages": [{"role": "user", "content": "Say hello."}]})


@pytest.mark.parametrize(("model", "route", "served_by"), [
    ("claude-opus-5-5", "model:claude-opus-5-5", "claude-opus-5-5"),
    ("claude-sonnet-4-5-20250929", "model:claude-sonnet-4-5", "claude-sonnet-4-5"),
    ("claude-haiku-4-5", "model:claude-haiku-4-5", "claude-haiku-4-5"),
    ("claude-opus-5-9", "family:claude-opus -> claude-opus-5-5 prices", "claude-opus-5-5"),
    ("gpt-5", "family:gpt -> gpt-4.1 prices", "gpt-4.1"),
])
def test_agent_model_ids_are_answered(gw: GatewayProcess, model: str, route: str, served_by: str) -> None:
    r = _chat(gw, model)
    assert r.status_code == 200, r.text
    assert r.headers["x-tierroute-route"] == route
    assert r.headers["x-tierroute-model"] == served_by
    assert r.json()["choices"][0]["message"]["content"]


def test_unknown_id_is_a_404_naming_known_ids(gw: GatewayProcess) -> None:
    r = _chat(gw, "no-such-model-1")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and err["param"] == "model"
    assert "no-such-model-1" in err["message"] and "claude-opus-5-5" in err["message"]


async def _get_models(tmp_path: Path, ids: list[str]) -> list[tuple[int, dict]]:
    settings = load_settings(str(CONFIG), environ={"TIERROUTE_SIMULATOR": "on", "TIERROUTE_MASTER_KEY": MASTER_KEY})
    app = web.Application()
    app[GATEWAY] = Gateway(settings)
    app.router.add_get("/v1/models/{id:.+}", models.get_model)  # as api/app.py registers it
    async with TestClient(TestServer(app)) as client:
        out = []
        for model_id in ids:
            r = await client.get(f"/v1/models/{model_id}", headers={"Authorization": f"Bearer {MASTER_KEY}"})
            out.append((r.status, await r.json()))
        unauth = await client.get("/v1/models/claude-opus-5-5")
        out.append((unauth.status, await unauth.json()))
    return out


def test_get_model_describes_each_kind_of_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the gateway's state files (.tierroute/) land here
    ids = ["claude-opus-5-5", "claude-sonnet-4-5-20250929", "gpt-4o-mini", "deepseek/deepseek-chat-v3-0324:free",
           "auto", "premium", "no-such-model-1"]
    (exact, dated, family, slashed, auto, tier, unknown, unauth) = asyncio.run(_get_models(tmp_path, ids))
    assert exact[0] == 200 and exact[1]["id"] == "claude-opus-5-5" and exact[1]["object"] == "model"
    assert exact[1]["tier"] == "premium" and exact[1]["pricing"] == {"input_per_m": 4.0, "output_per_m": 20.0}
    assert isinstance(exact[1]["created"], int) and exact[1]["owned_by"] == "tierroute-simulator"
    assert dated[0] == 200 and dated[1]["id"] == "claude-sonnet-4-5-20250929"
    assert dated[1]["alias_of"] == "claude-sonnet-4-5"
    assert family[0] == 200 and family[1]["family"] == "gpt-4o" and family[1]["priced_as"] == "gpt-4o"
    assert family[1]["route"] == "family:gpt-4o -> gpt-4o prices"
    assert slashed[0] == 200 and slashed[1]["alias_of"] == "deepseek-v3"
    assert auto == (200, {**auto[1], "id": "auto", "route": "auto"}) and tier[1]["route"] == "tier"
    assert unknown[0] == 404 and unknown[1]["error"]["code"] == "model_not_found"
    assert "claude-opus-5-5" in unknown[1]["error"]["message"]
    assert unauth[0] == 401
