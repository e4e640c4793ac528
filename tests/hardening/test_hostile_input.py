"""Item 3 of issue 12: hostile input is a 4xx in the dialect's shape, never a 5xx. JSON nested far
beyond any real request, anywhere in any body, and header bytes that are not UTF-8, against a real
`tierroute serve` on the simulator. Prints how many inputs were tried and how many 5xx came back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gateway_process import GatewayProcess, SimThread, provider_env, write_config

DEPTHS = (200, 1_000, 5_000, 100_000)


@pytest.fixture(scope="module")
def gw(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    d = tmp_path_factory.mktemp("hostile")
    g = GatewayProcess(write_config(d), env=provider_env(sim.base_url), workdir=d).start()
    yield g
    g.stop()


def nested(depth: int, leaf: str = "1") -> str:
    """JSON text: alternating objects and arrays ``depth`` levels deep."""
    opening = "".join('{"a":' if i % 2 == 0 else "[" for i in range(depth))
    closing = "".join("}" if i % 2 == 0 else "]" for i in reversed(range(depth)))
    return opening + leaf + closing


def chat(model: str, **extra: str) -> Callable[[str], str]:
    base = {"model": model, "messages": [{"role": "user", "content": "hi"}]}

    def build(deep: str) -> str:
        doc = json.dumps({**base, **{k: "@@" for k in extra}})
        for k, where in extra.items():
            doc = doc.replace(json.dumps({k: "@@"})[1:-1], f'"{k}": {where.replace("@", deep)}')
        return doc
    return build


# (path, body builder from a nested JSON text): every place a body can carry free-form JSON
BODIES: list[tuple[str, Callable[[str], str]]] = [
    ("/v1/chat/completions", lambda d: d),
    ("/v1/chat/completions", chat("gpt-4o", metadata='{"x": @}')),
    ("/v1/chat/completions", chat("claude-sonnet-4", metadata='{"x": @}')),
    ("/v1/chat/completions", chat("gpt-4o", tool_choice="@")),
    ("/v1/chat/completions", chat("gpt-4o", response_format='{"type": "json_schema", "json_schema": '
                                                          '{"name": "x", "schema": @}}')),
    ("/v1/chat/completions", chat("claude-sonnet-4", tools='[{"type": "function", "function": '
                                                           '{"name": "f", "parameters": @}}]')),
    ("/v1/chat/completions", lambda d: json.dumps({"model": "auto", "messages": [{"role": "user", "content": "x"}],
                                                   "extra_vendor_field": "@"}).replace('"@"', d)),
    ("/v1/messages", lambda d: json.dumps({"model": "claude-sonnet-4", "max_tokens": 16, "metadata": "@",
                                           "messages": [{"role": "user", "content": "hi"}]}).replace('"@"', d)),
    ("/v1/messages", lambda d: json.dumps({"model": "claude-sonnet-4", "max_tokens": 16, "tool_choice": "@",
                                           "messages": [{"role": "user", "content": "hi"}]}).replace('"@"', d)),
    ("/v1/messages", lambda d: json.dumps({"model": "gpt-4o", "max_tokens": 16, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "@"}]},
    ]}).replace('"@"', d)),
    ("/v1/messages/count_tokens", lambda d: json.dumps({"model": "claude-sonnet-4", "messages": [
        {"role": "user", "content": "@"}]}).replace('"@"', d)),
    ("/v1/responses", lambda d: json.dumps({"model": "gpt-4o", "input": "hi", "metadata": "@"}).replace('"@"', d)),
    ("/v1/responses", lambda d: json.dumps({"model": "claude-sonnet-4", "input": "@"}).replace('"@"', d)),
    ("/v1/embeddings", lambda d: json.dumps({"model": "text-embedding-3-small", "input": "@"}).replace('"@"', d)),
    ("/v1/feedback", lambda d: json.dumps({"request_id": "req_x", "score": 1, "comment": "@"}).replace('"@"', d)),
    ("/admin/cache/purge", lambda d: json.dumps({"key": "@"}).replace('"@"', d)),
]

# JSON nested inside a JSON string: decoded later, by a translation (OpenAI tool call -> Anthropic)
STRING_BODIES: list[tuple[str, Callable[[str], str]]] = [
    ("/v1/chat/completions", lambda d: json.dumps({"model": "claude-sonnet-4", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                               "function": {"name": "f", "arguments": d}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]})),
]

TYPED = ("/v1/feedback", "/admin/cache/purge")
HINTS = ("X-Tierroute-Task", "X-Tierroute-Complexity", "X-Tierroute-Willingness-To-Pay")
OTHER_HEADERS = ("X-Tierroute-Cache", "anthropic-beta", "User-Agent", "X-Tierroute-Session")
BAD_BYTES = (b"cod\xe9", b"\xff\xfe", b"caf\xc3", b"\x80high", b"low\xed\xa0\x80")


def _check(r: httpx.Response, path: str, stats: dict[str, int], ok_allowed: bool = False) -> str:
    stats["tried"] += 1
    if r.status_code >= 500:
        stats["5xx"] += 1
    assert r.status_code < 500, (path, r.status_code, r.text[:300])
    if ok_allowed and r.status_code == 200:
        return ""
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:300])
    body = r.json()
    if path.startswith("/v1/messages"):
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error", body
        return body["error"]["message"]
    return body["error"]["message"]


@pytest.fixture(scope="module")
def stats() -> Iterator[dict[str, int]]:
    s = {"tried": 0, "5xx": 0}
    yield s
    print(f"\nhostile inputs tried: {s['tried']}, 5xx seen: {s['5xx']}")


@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_nesting_anywhere_is_a_400(gw: GatewayProcess, stats: dict[str, int], depth: int) -> None:
    with httpx.Client(timeout=60, headers={**gw.headers(), "Content-Type": "application/json"}) as c:
        for path, build in BODIES:
            r = c.post(gw.url + path, content=build(nested(depth)).encode())
            message = _check(r, path, stats)
            # typed bodies (feedback, purge) refuse the first wrong type instead, also a 400
            assert path in TYPED or ("nest" in message and "deep" in message), (path, message)
        for path, build in STRING_BODIES:
            # a string's JSON within Python's limits is simply decoded: 200 or a 400, never a 5xx
            _check(c.post(gw.url + path, content=build(nested(depth)).encode()), path, stats, ok_allowed=True)


def test_real_nesting_still_works(gw: GatewayProcess) -> None:
    # A tool schema a few dozen levels deep is a normal request.
    build = chat("gpt-4o", metadata='{"x": @}')
    r = httpx.post(gw.url + "/v1/chat/completions", content=build(nested(40)).encode(), timeout=60,
                   headers={**gw.headers(), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("header", HINTS + OTHER_HEADERS)
def test_undecodable_header_bytes_are_a_400_naming_the_header(gw: GatewayProcess, stats: dict[str, int],
                                                              header: str) -> None:
    for path, body in (("/v1/chat/completions", {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
                       ("/v1/messages", {"model": "claude-sonnet-4", "max_tokens": 16,
                                         "messages": [{"role": "user", "content": "hi"}]})):
        for raw in BAD_BYTES:
            h: dict[str, Any] = {**gw.headers(), "Content-Type": "application/json", header: raw}
            r = httpx.post(gw.url + path, content=json.dumps(body).encode(), headers=h, timeout=60)
            message = _check(r, path, stats)
            assert header.lower() in message.lower() and "UTF-8" in message, message


def test_hint_decoder_names_the_header() -> None:
    from tierroute.errors import InvalidRequest
    from tierroute.routing.hints import parse_hints

    with pytest.raises(InvalidRequest) as e:
        parse_hints({"X-Tierroute-Task": "cod\udce9"}, None)
    assert e.value.param == "X-Tierroute-Task" and "UTF-8" in e.value.message
    assert parse_hints({"X-Tierroute-Task": "coding"}, None).task == "coding"
