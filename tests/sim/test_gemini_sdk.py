"""The Gemini dialect through Google's own ``google-genai`` SDK (a test dependency: never skipped)."""

from __future__ import annotations

from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from .conftest import KEY, ThreadedSim


@pytest.fixture
def client(sim: ThreadedSim) -> Any:
    return genai.Client(
        api_key=KEY, http_options=types.HttpOptions(base_url=sim.base_url, retry_options=None)
    )


def test_generate_content(client: Any) -> None:
    r = client.models.generate_content(
        model="gemini-2.0-flash",
        contents="Explain how routers work",
        config=types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.2),
    )
    assert r.text.startswith("[gemini-2.0-flash] answer to: Explain how routers work")
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    assert (
        r.usage_metadata.total_token_count
        == r.usage_metadata.prompt_token_count + r.usage_metadata.candidates_token_count
    )


def test_max_tokens_json_and_tools(client: Any) -> None:
    r = client.models.generate_content(model="gemini-2.0-flash", contents="Explain routers",
                                       config=types.GenerateContentConfig(max_output_tokens=4))  # fmt: skip
    assert r.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS and len(r.text) == 16
    schema = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}, "temp": {"type": "NUMBER"}},
              "required": ["city", "temp"]}  # fmt: skip
    r = client.models.generate_content(model="gemini-2.0-flash", contents="Weather as JSON",
                                       config=types.GenerateContentConfig(response_mime_type="application/json",
                                                                          response_schema=schema))  # fmt: skip
    assert set(r.parsed) == {"city", "temp"}
    fn = types.FunctionDeclaration(name="get_weather", description="Weather for a city",
                                   parameters={"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                                               "required": ["city"]})  # fmt: skip
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[fn])],
                                         automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))  # fmt: skip
    r = client.models.generate_content(
        model="gemini-2.0-flash", contents="Weather in Oslo? Use get_weather.", config=config
    )
    assert r.function_calls[0].name == "get_weather" and "city" in r.function_calls[0].args


async def test_async_stream(client: Any) -> None:
    whole = (await client.aio.models.generate_content(model="gemini-2.0-flash", contents="Tell a story")).text
    chunks = [c async for c in await client.aio.models.generate_content_stream(model="gemini-2.0-flash",
                                                                                contents="Tell a story")]  # fmt: skip
    assert len(chunks) > 3 and "".join(c.text for c in chunks) == whole
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_embed_and_count(client: Any) -> None:
    r = client.models.embed_content(model="text-embedding-004", contents=["red apple", "green pear"])
    assert len(r.embeddings) == 2 and len(r.embeddings[0].values) == 768
    r = client.models.embed_content(model="text-embedding-004", contents="red apple",
                                    config=types.EmbedContentConfig(output_dimensionality=16))  # fmt: skip
    assert len(r.embeddings[0].values) == 16
    assert client.models.count_tokens(model="gemini-2.0-flash", contents="12345678").total_tokens == 2


def test_errors_surface_as_the_sdk_errors(client: Any, sim: ThreadedSim) -> None:
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(model="gemini-2.0-flash", contents="hi [[sim:error=429]]")
    assert ei.value.code == 429 and ei.value.status == "RESOURCE_EXHAUSTED"
    retry = [d for d in ei.value.details["error"]["details"] if d["@type"].endswith("RetryInfo")]
    assert retry[0]["retryDelay"] == "1s"
    with pytest.raises(errors.ServerError) as ei:
        client.models.generate_content(model="gemini-2.0-flash", contents="hi [[sim:error=503]]")
    assert ei.value.code == 503 and ei.value.status == "UNAVAILABLE"
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(model="tiny-ctx", contents="z" * 400)
    assert ei.value.code == 400 and "exceeds the maximum number of tokens" in ei.value.message
