"""Item 2 of issue 12: a web page cannot make the gateway act. Real HTTP against `tierroute serve`
on the simulator: bodies only as application/json, browser requests only from the gateway's own
origin or a listed one (with proper preflights), Basic auth only on /ui, no DNS rebinding onto an
open (no master key) gateway."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from gateway_process import MASTER_KEY, GatewayProcess, SimThread, provider_env, write_config

APP = "http://app.example.com"
EVIL = "http://evil.example"
BASIC = "Basic " + base64.b64encode(f"me:{MASTER_KEY}".encode()).decode()
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello from a page"}]}
MESSAGES = {"model": "claude-sonnet-4", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def gw(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    d = tmp_path_factory.mktemp("xsite")
    g = GatewayProcess(write_config(d, {"server": {"cors_origins": [APP + "/"]}}), env=provider_env(sim.base_url),
                       workdir=d).start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def open_gw(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    d = tmp_path_factory.mktemp("xsite-open")
    g = GatewayProcess(write_config(d), env={**provider_env(sim.base_url), "TIERROUTE_MASTER_KEY": ""}, workdir=d)
    yield g.start()
    g.stop()


def post(g: GatewayProcess, path: str, body: object, **headers: str) -> httpx.Response:
    h = {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json", **headers}
    return httpx.post(g.url + path, content=json.dumps(body).encode(), headers=h, timeout=30)


def test_text_plain_post_is_415_in_openai_shape(gw: GatewayProcess) -> None:
    r = post(gw, "/v1/chat/completions", CHAT, **{"Content-Type": "text/plain;charset=UTF-8"})
    assert r.status_code == 415
    err = r.json()["error"]
    assert err["code"] == "unsupported_media_type" and "application/json" in err["message"]


def test_text_plain_post_is_415_in_anthropic_shape(gw: GatewayProcess) -> None:
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        r = post(gw, path, MESSAGES, **{"Content-Type": "text/plain"})
        assert r.status_code == 415, path
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error", body


def test_form_and_untyped_browser_bodies_are_refused(gw: GatewayProcess) -> None:
    cases = [{"Content-Type": "application/x-www-form-urlencoded"}, {"Content-Type": "multipart/form-data; b=x"},
             {"Origin": gw.url}, {"Sec-Fetch-Site": "same-origin"}]  # a Blob body from a page: no type at all
    for extra in cases:
        h = {"Authorization": f"Bearer {MASTER_KEY}", **extra}
        r = httpx.post(gw.url + "/v1/chat/completions", content=json.dumps(CHAT).encode(), headers=h, timeout=30)
        assert r.status_code == 415, extra
    # a script that sends raw bytes with no type and no browser headers is still served
    r = httpx.post(gw.url + "/v1/chat/completions", content=json.dumps(CHAT).encode(), timeout=30,
                   headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert r.status_code == 200


def test_the_issue_purge_attack_does_nothing(gw: GatewayProcess) -> None:
    # A logged-in /ui user (Basic auth cached by the browser) visits a page that POSTs text/plain.
    q = {"model": "gpt-4o", "messages": [{"role": "user", "content": "cache me (cross-site purge)"}],
         "temperature": 0}
    assert post(gw, "/v1/chat/completions", q).status_code == 200
    for ctype in ("text/plain", "application/json"):
        r = httpx.post(gw.url + "/admin/cache/purge", content=b'{"all": true}', timeout=30,
                       headers={"Content-Type": ctype, "Origin": EVIL, "Authorization": BASIC,
                                "Sec-Fetch-Site": "cross-site"})
        assert r.status_code in (401, 403, 415), (ctype, r.status_code, r.text)
    assert post(gw, "/v1/chat/completions", q).headers["x-tierroute-cache"] == "hit-exact"


def test_foreign_origin_is_refused_even_with_a_key(gw: GatewayProcess) -> None:
    r = post(gw, "/v1/chat/completions", CHAT, Origin=EVIL)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "cross_origin_refused" and "server.cors_origins" in r.json()["error"]["message"]
    r = post(gw, "/v1/messages", MESSAGES, Origin="null")
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    r = post(gw, "/v1/chat/completions", CHAT, **{"Sec-Fetch-Site": "same-site"})
    assert r.status_code == 403
    r = httpx.get(gw.url + "/v1/models", headers={**gw.headers(), "Origin": EVIL}, timeout=30)
    assert r.status_code == 403


def test_own_origin_and_plain_clients_work(gw: GatewayProcess) -> None:
    assert post(gw, "/v1/chat/completions", CHAT).status_code == 200  # an SDK: no Origin
    assert post(gw, "/v1/chat/completions", CHAT, Origin=gw.url, **{"Sec-Fetch-Site": "same-origin"}).status_code == 200
    r = post(gw, "/admin/cache/purge", {"model": "gpt-4o"}, Origin=gw.url, **{"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text


def test_listed_origin_gets_preflight_and_cors_headers(gw: GatewayProcess) -> None:
    r = httpx.options(gw.url + "/v1/chat/completions", timeout=30, headers={
        "Origin": APP, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-tierroute-task"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == APP
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "x-tierroute-task" in r.headers["access-control-allow-headers"]
    r = post(gw, "/v1/chat/completions", CHAT, Origin=APP, **{"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == APP
    assert "X-Tierroute-Model" in r.headers["access-control-expose-headers"]
    # a stream's headers go out before the handler returns: they carry CORS too
    with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=30,
                      headers={**gw.headers(), "Origin": APP, "Content-Type": "application/json"},
                      content=json.dumps({**CHAT, "stream": True}).encode()) as s:
        assert s.status_code == 200 and s.headers["access-control-allow-origin"] == APP
        s.read()


def test_unlisted_preflight_is_refused(gw: GatewayProcess) -> None:
    r = httpx.options(gw.url + "/v1/chat/completions", timeout=30,
                      headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


def test_basic_auth_only_on_ui(gw: GatewayProcess) -> None:
    for path in ("/v1/models", "/admin/usage", "/health"):
        r = httpx.get(gw.url + path, headers={"Authorization": BASIC}, timeout=30)
        assert r.status_code == 401, path
    r = post(gw, "/v1/chat/completions", CHAT, Authorization=BASIC)
    assert r.status_code == 401 and "Basic" in r.json()["error"]["message"]
    for path in ("/ui", "/ui/data"):
        assert httpx.get(gw.url + path, headers={"Authorization": BASIC}, timeout=30).status_code == 200, path


def test_ui_navigation_from_a_link_still_opens(gw: GatewayProcess) -> None:
    r = httpx.get(gw.url + "/ui", timeout=30, headers={"Authorization": BASIC, "Sec-Fetch-Site": "cross-site",
                                                        "Sec-Fetch-Mode": "navigate"})
    assert r.status_code == 200


def test_open_gateway_refuses_rebound_host_names(open_gw: GatewayProcess) -> None:
    # No master key: any page could spend through 127.0.0.1 by rebinding its own name onto it.
    r = post(open_gw, "/v1/chat/completions", CHAT, Host=f"evil.example:{open_gw.port}",
             Origin=f"http://evil.example:{open_gw.port}")
    assert r.status_code == 403 and "TIERROUTE_MASTER_KEY" in r.json()["error"]["message"]
    r = post(open_gw, "/v1/chat/completions", CHAT, Host=f"evil.example:{open_gw.port}")
    assert r.status_code == 403
    for host in (f"127.0.0.1:{open_gw.port}", f"localhost:{open_gw.port}"):
        assert post(open_gw, "/v1/chat/completions", CHAT, Host=host).status_code == 200, host
    # the browser's simple POST from a foreign page is refused on an open gateway too
    t0 = time.monotonic()
    r = httpx.post(open_gw.url + "/v1/chat/completions", content=json.dumps(CHAT).encode(), timeout=30,
                   headers={"Content-Type": "text/plain", "Origin": EVIL})
    assert r.status_code == 415 and time.monotonic() - t0 < 5
