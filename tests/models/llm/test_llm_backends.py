"""The language-model backends: the OpenAI-compatible client against small fake servers (retries,
timeouts, malformed answers, the response cache, the concurrency cap), the GGUF conversion cache,
and one integration test: seqrec's own LLM server backed by the real SmolLM2, read by the client.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from seqrec.models.base import CapabilityError
from seqrec.models.llm.backends import (
    DEFAULT_LLM,
    LLMError,
    LogprobsUnavailable,
    MalformedResponseError,
    OpenAIChatLM,
    TransformersLM,
    conversion_key,
    model_folder,
    packaged_gguf,
    response_key,
)
from seqrec.serving.server import running_server


def completion(content: str, logprobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": {"content": logprobs} if logprobs is not None else None,
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 2},
    }


class FakeServer:
    """Endpoints under ``/<kind>/v1/chat/completions`` that behave as their name says."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.app = FastAPI()

        @self.app.post("/{kind}/v1/chat/completions")
        async def chat(kind: str, request: Request) -> Any:
            body = await request.json()
            self.calls[kind] = self.calls.get(kind, 0) + 1
            if kind == "slow":
                await asyncio.sleep(1.0)
                return completion("late")
            if kind == "flaky" and self.calls[kind] <= 2:
                return JSONResponse({"error": "busy"}, status_code=503)
            if kind == "bad-request":
                return JSONResponse({"error": "no such model"}, status_code=404)
            if kind == "no-content":
                return {"choices": [{"index": 0, "message": {"role": "assistant"}}]}
            if kind == "no-choices":
                return {"object": "error"}
            if kind == "not-json":
                return PlainTextResponse("oops")
            if kind == "no-logprobs":
                return completion("B")
            if kind == "empty-logprobs":
                return completion("B", [])
            if kind == "concurrency":
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                await asyncio.sleep(0.15)
                self.in_flight -= 1
            content = body["messages"][0]["content"]
            top = [
                {"token": " B", "logprob": -0.5},
                {"token": "A", "logprob": -1.5},
                {"token": "Z", "logprob": -2.0},
            ]
            return completion(
                f"echo: {content}", [{"token": "B", "logprob": -0.4, "top_logprobs": top}]
            )


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeServer, str]]:
    server = FakeServer()
    with running_server(server.app) as url:
        yield server, url


def client(url: str, kind: str, tmp_path: Path, **options: Any) -> OpenAIChatLM:
    settings: dict[str, Any] = {
        "timeout_s": 5.0,
        "max_retries": 2,
        "backoff_s": 0.01,
        "cache_dir": tmp_path / "cache",
        "cache": False,
        **options,
    }
    return OpenAIChatLM(f"{url}/{kind}/v1", "fake-model", **settings)


def test_generate_returns_the_message_and_counts_tokens(
    fake: tuple[FakeServer, str], tmp_path: Path
) -> None:
    _, url = fake
    lm = client(url, "ok", tmp_path)
    assert lm.generate(["hello", "there"], 8) == ["echo: hello", "echo: there"]
    assert (lm.usage.prompt_tokens, lm.usage.completion_tokens, lm.usage.requests) == (22, 4, 2)


def test_label_logprobs_come_from_the_reported_top_tokens(
    fake: tuple[FakeServer, str], tmp_path: Path
) -> None:
    _, url = fake
    values = client(url, "ok", tmp_path).next_token_logprobs(["p"], ["A", "B", "C"])
    # " B" (with a space) counts as B and the best value of a label is kept; C was not reported.
    np.testing.assert_allclose(values, [[-1.5, -0.4, -np.inf]])


def test_a_timeout_that_exhausts_the_retries_is_a_clear_error(
    fake: tuple[FakeServer, str], tmp_path: Path
) -> None:
    server, url = fake
    before = server.calls.get("slow", 0)
    lm = client(url, "slow", tmp_path, timeout_s=0.2, max_retries=1)
    started = time.perf_counter()
    with pytest.raises(LLMError, match=r"timed out \(timeout 0.2 s\), after 2 attempt"):
        lm.generate(["p"], 4)
    assert (
        time.perf_counter() - started < 1.8
    )  # each attempt gave up at the timeout, not after the 1 s answer
    assert server.calls["slow"] - before == 2


def test_server_errors_are_retried_with_backoff(
    fake: tuple[FakeServer, str], tmp_path: Path
) -> None:
    server, url = fake
    assert client(url, "flaky", tmp_path, max_retries=2).generate(["p"], 4) == ["echo: p"]
    assert server.calls["flaky"] == 3


def test_a_client_error_is_not_retried(fake: tuple[FakeServer, str], tmp_path: Path) -> None:
    server, url = fake
    with pytest.raises(LLMError, match="HTTP 404"):
        client(url, "bad-request", tmp_path).generate(["p"], 4)
    assert server.calls["bad-request"] == 1


def test_a_connection_failure_names_the_url(tmp_path: Path) -> None:
    lm = OpenAIChatLM(
        "http://127.0.0.1:9/v1", "m", timeout_s=0.5, max_retries=1, backoff_s=0.01, cache=False
    )
    with pytest.raises(LLMError, match="127.0.0.1:9/v1/chat/completions: could not connect"):
        lm.generate(["p"], 4)


@pytest.mark.parametrize(
    ("kind", "call", "field"),
    [
        ("no-content", "generate", "choices[0].message.content"),
        ("no-choices", "generate", "choices"),
        ("empty-logprobs", "logprobs", "choices[0].logprobs.content[0]"),
        ("not-json", "generate", "not JSON"),
    ],
)
def test_a_malformed_response_names_the_missing_field(
    fake: tuple[FakeServer, str], tmp_path: Path, kind: str, call: str, field: str
) -> None:
    _, url = fake
    lm = client(url, kind, tmp_path)
    with pytest.raises(MalformedResponseError, match=field.replace("[", r"\[").replace("]", r"\]")):
        lm.generate(["p"], 4) if call == "generate" else lm.next_token_logprobs(["p"], ["A"])


def test_a_server_without_logprobs_says_so(fake: tuple[FakeServer, str], tmp_path: Path) -> None:
    _, url = fake
    with pytest.raises(LogprobsUnavailable, match="without choices\\[0\\].logprobs"):
        client(url, "no-logprobs", tmp_path).next_token_logprobs(["p"], ["A"])


def test_responses_are_cached_on_disk_by_model_prompt_and_parameters(
    fake: tuple[FakeServer, str], tmp_path: Path
) -> None:
    server, url = fake
    lm = client(url, "cached", tmp_path, cache=True)
    assert lm.generate(["one"], 8) == ["echo: one"]
    assert lm.generate(["one"], 8) == ["echo: one"]
    assert server.calls["cached"] == 1
    assert lm.usage.requests == 2 and lm.usage.cached == 1 and lm.usage.prompt_tokens == 22
    lm.generate(["one"], 9)  # other parameters: another entry
    assert server.calls["cached"] == 2
    files = list((tmp_path / "cache").glob("*.json"))
    assert len(files) == 2 and not list((tmp_path / "cache").glob("*.tmp"))
    key = response_key(
        "fake-model", [{"role": "user", "content": "one"}], {"max_tokens": 8, "temperature": 0.0}
    )
    assert (
        json.loads((tmp_path / "cache" / f"{key}.json").read_text())["choices"][0]["message"][
            "content"
        ]
        == "echo: one"
    )
    assert (
        response_key("other-model", [{"role": "user", "content": "one"}], {"max_tokens": 8}) != key
    )


def test_no_more_than_concurrency_requests_are_in_flight(
    fake: tuple[FakeServer, str], tmp_path: Path
) -> None:
    server, url = fake
    lm = client(url, "concurrency", tmp_path, concurrency=2)
    answers = lm.generate([f"p{i}" for i in range(6)], 4)
    assert answers == [f"echo: p{i}" for i in range(6)]  # in prompt order
    assert server.max_in_flight == 2


# -- the GGUF conversion cache ------------------------------------------------------------------------
def test_the_conversion_key_follows_the_file_size_and_time(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"1234")
    first = conversion_key(gguf)
    assert conversion_key(gguf) == first
    os.utime(gguf, ns=(1, 10**18))
    assert conversion_key(gguf) != first
    gguf.write_bytes(b"12345")
    assert conversion_key(gguf).startswith("m-")


def test_an_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(CapabilityError, match="neither a packaged model"):
        model_folder("/no/such/model")


def smollm2_or_skip() -> None:
    try:
        packaged_gguf(DEFAULT_LLM)
    except CapabilityError as error:
        pytest.skip(f"SmolLM2 is not installed ({error}); .ci/run installs it")
    pytest.importorskip(
        "gguf", reason="transformers needs gguf to read the GGUF file; .ci/run installs it"
    )
    pytest.importorskip(
        "accelerate",
        reason="transformers needs accelerate to load a GGUF file; .ci/run installs it",
    )


@pytest.fixture(scope="module")
def smollm2() -> TransformersLM:
    smollm2_or_skip()
    lm = TransformersLM(DEFAULT_LLM, threads=1)
    lm.loaded()  # converts once per cache (tens of seconds), then loads in well under a second
    return lm


def test_the_converted_model_is_cached_and_loads_fast(smollm2: TransformersLM) -> None:
    from seqrec.models.llm.backends import load_causal_lm

    folder = model_folder(DEFAULT_LLM)
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert not [
        p for p in folder.parent.iterdir() if p.name.startswith(".")
    ]  # no temporary folder left
    started = time.perf_counter()
    assert model_folder(DEFAULT_LLM) == folder
    load_causal_lm.__wrapped__(str(folder))  # a fresh load from the cached safetensors
    assert time.perf_counter() - started < 5.0


# -- integration: the real model behind seqrec's server, read by the HTTP client ------------------------
def test_the_llm_server_serves_smollm2_to_the_http_client(
    smollm2: TransformersLM, tmp_path: Path
) -> None:
    from seqrec.data.types import ItemInfo, SequenceData
    from seqrec.models.llm.prompts import build_prompt
    from seqrec.models.llm.ranker import LLMRerank
    from seqrec.serving.llm_server import create_llm_app
    from seqrec.testing import cycle_world

    prompt = build_prompt(
        "llamarec",
        ["Star Wars (1977)", "Alien (1979)"],
        ["Toy Story (1995)", "Aliens (1986)", "Babe (1995)"],
        item_kind="movies",
    )
    labels = list(prompt.labels)
    with running_server(create_llm_app(smollm2)) as url:
        remote = OpenAIChatLM(f"{url}/v1", DEFAULT_LLM, timeout_s=120, max_retries=0, cache=False)
        served = remote.next_token_logprobs([prompt.text], labels)
        local = smollm2.next_token_logprobs([prompt.text], labels)
        reported = np.isfinite(served)
        assert reported.any()  # the letters are among the top 20 next tokens
        np.testing.assert_allclose(served[reported], local[reported], atol=1e-3)
        assert remote.generate([prompt.text], 12) == smollm2.generate([prompt.text], 12)
        assert remote.usage.prompt_tokens > 50 and remote.usage.completion_tokens >= 2

        train = cycle_world()
        info = ItemInfo.ids_only(train.n_items)
        titles = np.array(
            [
                "<pad>",
                "Star Wars",
                "Alien",
                "Heat",
                "Fargo",
                "Babe",
                "Casino",
                "Speed",
                "Ransom",
                "Twister",
                "Contact",
                "Scream",
            ],
            dtype=object,
        )
        items = ItemInfo(info.labels, titles, info.categories, info.texts)
        model = LLMRerank(
            {
                "retriever": "markov",
                "n_candidates": 4,
                "backend": "openai",
                "base_url": f"{url}/v1",
                "cache_responses": False,
                "repeats": 2,
            }
        ).fit(train, items=items)
        histories = SequenceData.from_lists([[1, 2, 3], [6, 7]], train.n_items)
        candidates = model.retriever.recommend(histories, 4)
        ranked = model.recommend(histories, 4)
        for row in range(2):
            assert sorted(ranked[row].tolist()) == sorted(candidates[row].tolist())
        assert (
            model.stats.prompts == 4
            and model.stats.prompt_tokens > 0
            and model.stats.parse_failures == 0
        )


def test_an_openai_key_in_the_environment_goes_to_openai_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.delenv("SEQREC_LLM_API_KEY", raising=False)
    assert OpenAIChatLM("https://api.openai.com/v1", "gpt").api_key == "sk-openai"
    assert OpenAIChatLM("http://127.0.0.1:8000/v1", "local").api_key is None  # not leaked elsewhere
    assert OpenAIChatLM("https://api.openai.com.evil.example/v1", "x").api_key is None
    monkeypatch.setenv("SEQREC_LLM_API_KEY", "local-key")  # the key meant for the configured server
    assert OpenAIChatLM("http://127.0.0.1:8000/v1", "local").api_key == "local-key"
    assert OpenAIChatLM("http://127.0.0.1:8000/v1", "local", api_key="given").api_key == "given"
