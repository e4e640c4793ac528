"""Item 6 of issue 12: upstream error text never carries a configured provider key to a client,
whatever the key's shape and however the vendor quotes it (whole, partly masked, a fragment, a
neighbour deployment's key). Unit checks on providers/errmap.py, then real HTTP: `tierroute serve`
whose every provider is a fake vendor that echoes the key it was sent in its 401."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from gateway_process import GatewayProcess, free_port, provider_env, write_config
from tierroute.providers import errmap
from tierroute.types import Deployment

# One key per provider of the shipped config, each in its vendor's real shape.
KEYS = {
    "OPENAI": "sk-proj-" + "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9nP2rS5uV8xA1cD4fG7iL0oR3",
    "ANTHROPIC": "sk-ant-api03-" + "Zx9Wv8Ut7Sr6Qp5On4Ml3Kj2Ih1Gf0EdCbA9z8y7x6w5v4u3t2s1r0q-p9o8n7m6l5k4j3i2h1gAA",
    "GEMINI": "AIzaSyD" + "4kT9mQ2xV7bN1cR8wE5yU3iO6pL0aS9dF",
    "OPENROUTER": "sk-or-v1-" + "7f3a9c1e5b8d2f6a0c4e8b2d6f0a4c8e2b6d0f4a8c2e6b0d4f8a2c6e0b4d8f2a",
    "TOGETHER": "3c8f1a6d9b2e5f8a1c4d7e0b3f6a9c2d5e8f1b4a7d0c3e6f9b2a5d8c1e4f7a0b",
    "MISTRAL": "Qm7Xr2Kp9Vt4Lw8Nz3Bc6Hy1Fd5Gs0Ja",
    "DEEPSEEK": "sk-" + "e41b7c2d9f3a6058b1c4d7e0f2a5b8c3",
    "GROQ": "gsk_" + "Lq8Wm3Zt6Yp1Rv9Xs4Nk7Hb2Jd5Cf0GaEu8Ti3Oo6Pl1Ky4Mn9Bw",
}


def leaks(text: str, n: int = 8) -> list[str]:
    """Every configured key whose 8-character piece appears in ``text``."""
    out = []
    for name, key in KEYS.items():
        body = key.split("-")[-1] if key.startswith("sk-") else key  # vendor prefixes are public
        if any(body[i:i + n] in text for i in range(len(body) - n + 1)):
            out.append(name)
    return out


def echoes(key: str) -> list[str]:
    """How vendors quote a key back."""
    return [
        f"Incorrect API key provided: {key}.",
        f"Incorrect API key provided: {key[:7]}{'*' * 20}{key[-4:]}. You can find your API key at ...",
        f"Invalid key {key[:10]}...{key[-6:]}",
        f"Authentication failed for token {key[3:]}",
        f"The api_key '{key[5:30]}' is not valid",
        f'{{"detail": "key={key}"}}',
        f"Unauthorized: Bearer {key}",
        f"no such key: {key[-24:]}",
    ]


@pytest.mark.parametrize("name", list(KEYS))
def test_every_key_shape_and_echo_is_masked(name: str) -> None:
    key = KEYS[name]
    dep = Deployment(id=f"{name.lower()}/m", model="m", provider=name.lower(), dialect="openai",
                     base_url="http://x", upstream_model="m", api_key=key)
    for text in echoes(key):
        body = json.dumps({"error": {"message": text, "type": "invalid_request_error"}}).encode()
        err = errmap.from_response(401, body, {}, dep)
        assert not leaks(err.message), (text, err.message)
        err = errmap.from_response(400, text.encode(), {}, dep)  # a body that is not JSON
        assert not leaks(err.message), (text, err.message)


def test_a_neighbours_key_is_masked_too() -> None:
    deps = [Deployment(id=f"{n.lower()}/m", model="m", provider=n.lower(), dialect="openai", base_url="http://x",
                       upstream_model="m", api_key=k) for n, k in KEYS.items()]
    errmap.remember(deps)
    text = f"upstream proxy error: forwarded with {KEYS['MISTRAL']} and {KEYS['TOGETHER'][:40]}"
    err = errmap.from_response(502, text.encode(), {}, deps[0])
    assert not leaks(err.message), err.message


def test_ordinary_text_is_kept() -> None:
    dep = Deployment(id="mistral/m", model="m", provider="mistral", dialect="openai", base_url="http://x",
                     upstream_model="m", api_key=KEYS["MISTRAL"])
    msg = "The model `mistral-small-latest` does not exist or you do not have access to it (request 2024-06-01)."
    err = errmap.from_response(404, json.dumps({"error": {"message": msg}}).encode(), {}, dep)
    assert msg in err.message


# ---------------------------------------------------------------------------------------- over HTTP


class EchoVendor:
    """A vendor answering every call 401 with the key it was sent, quoted in each way of ``echoes``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._main, daemon=True).start()
        assert self.ready.wait(10)

    async def _answer(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "").removeprefix("Bearer ")
        key = auth or request.headers.get("x-api-key") or request.headers.get("x-goog-api-key") \
            or request.query.get("key", "")
        text = " | ".join(echoes(key))
        return web.json_response({"error": {"message": text, "type": "authentication_error"}}, status=401)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()


@pytest.fixture(scope="module")
def vendor() -> EchoVendor:
    return EchoVendor()


@pytest.fixture
def gw(vendor: EchoVendor, tmp_path: Path) -> Iterator[GatewayProcess]:
    # a fresh gateway per case: no deployment cooled down by the case before
    env = provider_env(f"http://127.0.0.1:{vendor.port}")
    env.update({f"{p}_API_KEY": k for p, k in KEYS.items()})
    g = GatewayProcess(write_config(tmp_path, {"simulator": {"mode": "off"}}), env=env, workdir=tmp_path).start()
    yield g
    g.stop()


@pytest.mark.parametrize(("path", "model"), [
    ("/v1/chat/completions", "mistral-small"), ("/v1/chat/completions", "llama-3.2-vision"),
    ("/v1/chat/completions", "auto"), ("/v1/chat/completions", "gpt-4o"), ("/v1/messages", "claude-sonnet-4"),
    ("/v1/chat/completions", "deepseek-v3"), ("/v1/chat/completions", "gemini-2.0-flash"),
])
def test_no_key_reaches_a_client(gw: GatewayProcess, path: str, model: str) -> None:
    body = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(gw.url + path, json=body, headers=gw.headers(), timeout=60)
    assert r.status_code >= 400
    assert "upstream 401" in r.text or "401" in r.text, r.text[:500]
    assert not leaks(r.text), r.text
    # nor the usage store, which keeps each attempt's error detail
    usage = httpx.get(gw.url + "/admin/usage?by=deployment", headers=gw.headers(), timeout=30).text
    assert not leaks(usage)
