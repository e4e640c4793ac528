"""The Gemini dialect over raw HTTP: generateContent, the SSE stream, embeddings, errors."""

from __future__ import annotations

import json
import math

import httpx
import pytest

from .conftest import KEY, ThreadedSim

G = {"x-goog-api-key": KEY}
ASK = {"contents": [{"role": "user", "parts": [{"text": "Explain how routers work"}]}]}
WEATHER = {"functionDeclarations": [{"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}  # fmt: skip
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def gen(http: httpx.Client, body: dict, model: str = "gemini-2.0-flash", **kw: object) -> httpx.Response:
    return http.post(f"/v1beta/models/{model}:generateContent", json=body, headers=G, **kw)  # type: ignore[arg-type]


def test_generate_content_shape(http: httpx.Client) -> None:
    body = {**ASK, "systemInstruction": {"parts": [{"text": "Be brief."}]}}
    r = gen(http, body)
    assert r.status_code == 200
    data = r.json()
    cand = data["candidates"][0]
    assert cand["content"]["role"] == "model" and cand["finishReason"] == "STOP" and cand["index"] == 0
    text = cand["content"]["parts"][0]["text"]
    assert text.startswith("[gemini-2.0-flash] answer to: Explain how routers work")
    usage = data["usageMetadata"]
    assert usage["promptTokenCount"] == math.ceil(len("Be brief.\nExplain how routers work") / 4)
    assert usage["candidatesTokenCount"] == math.ceil(len(text) / 4)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert data["modelVersion"] == "gemini-2.0-flash" and data["responseId"]


def test_key_in_query_and_missing_key(http: httpx.Client) -> None:
    r = http.post("/v1beta/models/gemini-2.0-flash:generateContent", params={"key": KEY}, json=ASK)
    assert r.status_code == 200
    r = http.post("/v1beta/models/gemini-2.0-flash:generateContent", json=ASK)
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"


def test_snake_case_fields_and_v1_path(http: httpx.Client) -> None:
    body = {**ASK, "generation_config": {"max_output_tokens": 3}}
    r = http.post("/v1/models/gemini-2.0-flash:generateContent", json=body, headers=G)
    assert r.json()["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert r.json()["usageMetadata"]["candidatesTokenCount"] == 3


def test_stream_sse_each_event_is_a_response(sim: ThreadedSim, http: httpx.Client) -> None:
    whole = gen(http, ASK).json()["candidates"][0]["content"]["parts"][0]["text"]
    r = http.post(
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent", params={"alt": "sse"}, json=ASK, headers=G
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    raw = r.text
    assert raw.endswith("\r\n\r\n")
    chunks = [json.loads(b[len("data: ") :]) for b in raw.split("\r\n\r\n") if b]
    assert len(chunks) > 3
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == whole
    assert [c["candidates"][0].get("finishReason") for c in chunks][-1] == "STOP"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == math.ceil(len(whole) / 4)


def test_stream_without_sse_is_a_json_array(http: httpx.Client) -> None:
    r = http.post("/v1beta/models/gemini-2.0-flash:streamGenerateContent", json=ASK, headers=G)
    items = r.json()
    assert isinstance(items, list) and items[-1]["candidates"][0]["finishReason"] == "STOP"


def test_function_call_then_function_response(http: httpx.Client) -> None:
    ask = {
        "contents": [{"role": "user", "parts": [{"text": "Weather in Oslo? Use get_weather."}]}],
        "tools": [WEATHER],
    }
    cand = gen(http, ask).json()["candidates"][0]
    call = cand["content"]["parts"][0]["functionCall"]
    assert call["name"] == "get_weather" and set(call["args"]) == {"city"} and cand["finishReason"] == "STOP"
    follow = {**ask, "contents": [*ask["contents"], {"role": "model", "parts": [{"functionCall": call}]},
              {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                              "response": {"temp": "5 degrees"}}}]}]}  # fmt: skip
    text = gen(http, follow).json()["candidates"][0]["content"]["parts"][0]["text"]
    assert "5 degrees" in text
    none = {**ask, "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}
    assert "text" in gen(http, none).json()["candidates"][0]["content"]["parts"][0]


def test_generation_config(http: httpx.Client) -> None:
    cfg = {"candidateCount": 2, "stopSequences": ["routers"]}
    data = gen(http, {**ASK, "generationConfig": cfg}).json()
    assert [c["index"] for c in data["candidates"]] == [0, 1]
    assert (
        data["candidates"][0]["content"]["parts"][0]["text"] == "[gemini-2.0-flash] answer to: Explain how "
    )
    schema = {"type": "OBJECT", "properties": {"name": {"type": "STRING"}, "age": {"type": "INTEGER"}},
              "required": ["name", "age"]}  # fmt: skip
    cfg = {"responseMimeType": "application/json", "responseSchema": schema}
    value = json.loads(
        gen(http, {**ASK, "generationConfig": cfg}).json()["candidates"][0]["content"]["parts"][0]["text"]
    )
    assert isinstance(value["name"], str) and isinstance(value["age"], int)
    r = gen(http, {**ASK, "generationConfig": {"responseSchema": schema}})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_images_and_safety(http: httpx.Client) -> None:
    body = {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": PIXEL}},
                                                    {"text": "What is this?"}]}]}  # fmt: skip
    assert gen(http, body).json()["usageMetadata"]["promptTokenCount"] == math.ceil(13 / 4) + 85
    r = gen(http, body, model="blind")
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    bad = {"contents": [{"role": "user", "parts": [{"text": "x [[sim:error=content_filter]]"}]}]}
    cand = gen(http, bad).json()["candidates"][0]
    assert cand["finishReason"] == "SAFETY" and "content" not in cand
    assert any(r.get("blocked") for r in cand["safetyRatings"])


def test_errors_in_google_shape(http: httpx.Client) -> None:
    r = gen(http, {"contents": []})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    r = gen(http, {"contents": [{"parts": [{"text": "z" * 400}]}]}, model="tiny-ctx")
    assert r.json()["error"] == {"code": 400, "status": "INVALID_ARGUMENT", "message":
                                 "The input token count (100) exceeds the maximum number of tokens allowed (50)."}  # fmt: skip
    r = http.post("/v1beta/models/gemini-2.0-flash:explode", json=ASK, headers=G)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = http.post("/v1beta/models/x:generateContent", content=b"{oops", headers=G)
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("Invalid JSON payload received")


def test_embeddings_and_count_tokens(http: httpx.Client) -> None:
    one = {"content": {"parts": [{"text": "red apple"}]}}
    r = http.post("/v1beta/models/text-embedding-004:embedContent", json=one, headers=G)
    values = r.json()["embedding"]["values"]
    assert len(values) == 768 and abs(sum(v * v for v in values) - 1) < 1e-6
    batch = {"requests": [{"model": "models/text-embedding-004", **one},
                          {"model": "models/text-embedding-004", "content": {"parts": [{"text": "pear"}]},
                           "outputDimensionality": 32}]}  # fmt: skip
    r = http.post("/v1beta/models/text-embedding-004:batchEmbedContents", json=batch, headers=G)
    embs = r.json()["embeddings"]
    assert embs[0]["values"] == values and len(embs[1]["values"]) == 32
    r = http.post("/v1beta/models/gemini-2.0-flash:countTokens", json=ASK, headers=G)
    assert r.json()["totalTokens"] == math.ceil(len("Explain how routers work") / 4)
    models = http.get("/v1beta/models", headers=G).json()["models"]
    assert {"name": "models/tiny-ctx"}.items() <= next(
        m for m in models if m["name"] == "models/tiny-ctx"
    ).items()


@pytest.mark.parametrize("where", ["header", "query"])
def test_key_list_rejects_a_wrong_key(where: str) -> None:
    import asyncio

    from tierroute.sim.config import config_from_dict
    from tierroute.sim.server import start_background

    async def main() -> httpx.Response:
        handle = await start_background(config_from_dict({"api_keys": ["good"]}))
        try:
            async with httpx.AsyncClient(base_url=handle.base_url) as c:
                kw = (
                    {"headers": {"x-goog-api-key": "bad"}}
                    if where == "header"
                    else {"params": {"key": "bad"}}
                )
                return await c.post("/v1beta/models/g:generateContent", json=ASK, **kw)  # type: ignore[arg-type]
        finally:
            await handle.close()

    r = asyncio.run(main())
    err = r.json()["error"]
    assert (
        r.status_code == 400 and err["status"] == "INVALID_ARGUMENT" and "API key not valid" in err["message"]
    )
    assert err["details"][0]["reason"] == "API_KEY_INVALID"
