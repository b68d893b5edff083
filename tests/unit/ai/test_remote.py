"""The HTTP providers speak their protocols (checked on the wire, against the fake server)
and map every kind of failure onto the errors the chain retries or falls back on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tests.fakes.ai_server import FakeAIServer

from quizplatform.ai.base import (
    Ask,
    DraftRequest,
    ProviderBadOutput,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from quizplatform.ai.remote import GeminiProvider, OpenAICompatibleProvider

REQUEST = DraftRequest(
    num_questions=3,
    question_types=("single_choice", "true_false"),
    topic="orbits",
    source_text="Mercury is the closest planet to the Sun.",
    language="French",
)
ASK = Ask(plan={"single_choice": 2, "true_false": 1}, avoid=("An earlier question?",))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAIServer]:
    with FakeAIServer() as server:
        yield server


@pytest.fixture
async def gemini(fake: FakeAIServer) -> AsyncIterator[GeminiProvider]:
    fake.set("good")
    provider = GeminiProvider(fake.gemini_url, "gemini-test", "test-key", timeout=1.0)
    yield provider
    await provider.close()


async def test_gemini_asks_for_json_matching_a_schema(
    gemini: GeminiProvider, fake: FakeAIServer
) -> None:
    generation = await gemini.generate(REQUEST, ASK)
    call = fake.calls[-1]
    assert call.path == "/v1beta/models/gemini-test:generateContent"
    assert call.api_key == "test-key"
    config = call.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    item = config["responseSchema"]["properties"]["questions"]["items"]
    assert item["type"] == "OBJECT"
    assert item["properties"]["type"]["enum"] == ["single_choice", "true_false"]
    assert item["properties"]["options"] == {"type": "ARRAY", "items": {"type": "STRING"}}
    assert "systemInstruction" in call.body
    prompt = call.body["contents"][0]["parts"][0]["text"]
    assert prompt.startswith("Write exactly 3 quiz questions: 2 single_choice, 1 true_false.")
    assert "in French" in prompt and "- An earlier question?" in prompt
    assert "<<<SOURCE\nMercury is the closest planet to the Sun.\nSOURCE>>>" in prompt
    assert len(generation.items) == 3
    assert generation.usage.prompt_tokens and generation.usage.output_chars > 0


async def test_openai_compatible_asks_for_a_strict_json_schema(fake: FakeAIServer) -> None:
    fake.set("good")
    provider = OpenAICompatibleProvider(fake.openai_url, "local", "sk-test", timeout=1.0)
    try:
        generation = await provider.generate(REQUEST, ASK)
    finally:
        await provider.close()
    call = fake.calls[-1]
    assert call.path == "/v1/chat/completions" and call.api_key == "sk-test"
    assert call.body["model"] == "local"
    schema = call.body["response_format"]["json_schema"]
    assert schema["strict"] is True
    item = schema["schema"]["properties"]["questions"]["items"]
    assert item["additionalProperties"] is False
    assert set(item["required"]) == set(item["properties"])  # strict mode wants all
    assert item["properties"]["options"]["type"] == ["array", "null"]
    assert [m["role"] for m in call.body["messages"]] == ["system", "user"]
    assert len(generation.items) == 3 and generation.usage.output_tokens


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("error500", ProviderUnavailable),
        ("error429", ProviderRateLimited),
        ("bad_key", ProviderRejected),
        ("truncated", ProviderBadOutput),
        ("non_json", ProviderBadOutput),
        ("html", ProviderBadOutput),
    ],
)
async def test_failures_map_onto_provider_errors(
    gemini: GeminiProvider, fake: FakeAIServer, mode: str, error: type[ProviderError]
) -> None:
    fake.set(mode, retry_after="7")
    with pytest.raises(error) as raised:
        await gemini.generate(REQUEST, ASK)
    if mode == "error429":
        assert isinstance(raised.value, ProviderRateLimited) and raised.value.retry_after == 7
    if mode == "bad_key":
        assert "API key not valid" in raised.value.message
    if mode == "truncated":
        assert "cut off" in raised.value.message and raised.value.usage.output_chars > 0


async def test_a_slow_server_times_out_and_a_closed_port_is_unavailable(
    fake: FakeAIServer,
) -> None:
    fake.set("slow", delay=2)
    slow = GeminiProvider(fake.gemini_url, "m", "test-key", timeout=0.2)
    try:
        with pytest.raises(ProviderTimeout):
            await slow.generate(REQUEST, ASK)
    finally:
        await slow.close()
    closed = GeminiProvider("http://127.0.0.1:9/v1beta", "m", "k", timeout=1.0)
    try:
        with pytest.raises(ProviderUnavailable):
            await closed.generate(REQUEST, ASK)
    finally:
        await closed.close()
    fake.set("good")
