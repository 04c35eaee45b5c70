"""The HTTP server: every endpoint, its limits and errors, the API key, micro-batching, a real socket."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from seqrec.data.shop import make_shop_dataset
from seqrec.data.splits import leave_one_out
from seqrec.data.types import Dataset
from seqrec.experiment import build_model
from seqrec.serving.inference import Predictor, RecommendationList
from seqrec.serving.server import (
    MicroBatcher,
    SafeJSONResponse,
    ServerLimits,
    create_app,
    malformed_requests,
    running_server,
)

with warnings.catch_warnings():  # starlette asks for httpx2, which is not packaged yet
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SASREC_TINY = {"max_len": 20, "dim": 16, "batch_size": 32, "epochs": 5, "threads": 1, "progress": False}


@pytest.fixture(scope="module")
def shop() -> Dataset:
    return make_shop_dataset("tiny")


@pytest.fixture(scope="module")
def predictors(shop: Dataset) -> dict[str, Predictor]:
    train, items = leave_one_out(shop.sequences).train, shop.item_info()
    return {
        name: Predictor(build_model(name, {}, 1).fit(train, items=items), items, {"model": name, "dataset": "shop:tiny"})
        for name in ("popularity", "markov", "als")
    }


@pytest.fixture
def client(predictors: dict[str, Predictor], monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("SEQREC_API_KEY", raising=False)
    with TestClient(create_app(predictors)) as test_client:
        yield test_client


def histories(shop: Dataset, count: int) -> list[list[str]]:
    """Real prefixes of the shoppers' histories, as original ids (varied lengths, some empty)."""
    labels = shop.item_info().labels
    return [[str(labels[i]) for i in shop.sequences.sequence(row % len(shop.sequences))[: row % 9]] for row in range(count)]


def as_json(result: RecommendationList) -> list[dict[str, Any]]:
    return result.to_dict()["items"]


# -- the endpoints ----------------------------------------------------------------------------


def test_recommend_answers_as_the_predictor_does(client: TestClient, predictors: dict[str, Predictor], shop: Dataset) -> None:
    title = str(shop.item_info().titles[29])
    history: list[str | int] = ["shop-0001", title, "no such thing", 17]
    response = client.post("/recommend", json={"history": history, "k": 5, "model": "markov"})
    assert response.status_code == 200, response.text
    body = response.json()
    (expected,) = predictors["markov"].recommend([history], 5, exclude_seen=True)
    assert body["model"] == "markov" and body["unknown"] == ["no such thing", "17"]
    assert body["items"] == as_json(expected) and [r["rank"] for r in body["items"]] == [1, 2, 3, 4, 5]
    assert set(body["items"][0]) == {"item", "title", "category", "rank", "score"}
    assert not {r["item"] for r in body["items"]} & {"shop-0001", "shop-0029"}  # exclude_seen is the default
    kept = client.post("/recommend", json={"history": history, "k": 5, "model": "markov", "exclude_seen": False}).json()
    assert kept["items"] == as_json(predictors["markov"].recommend([history], 5, exclude_seen=False)[0])


def test_batch_explain_and_timestamps(client: TestClient, predictors: dict[str, Predictor], shop: Dataset) -> None:
    rows = histories(shop, 7)
    response = client.post("/recommend/batch", json={"histories": rows, "k": 3, "model": "als"})
    assert response.status_code == 200, response.text
    expected = predictors["als"].recommend(rows, 3, exclude_seen=True)
    assert response.json()["model"] == "als"
    assert [r["items"] for r in response.json()["results"]] == [as_json(e) for e in expected]

    first = response.json()["results"][3]["items"][0]["item"]
    explained = client.post("/explain", json={"history": rows[3], "item": first, "model": "als"})
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert body["model"] == "als" and body["item"] == first and body["summary_titled"] and body["kind"]
    assert all("item_title" in row for row in body["evidence"] if "item" in row)

    timed = {"history": rows[4], "timestamps": list(range(100, 100 + len(rows[4]))), "model": "markov"}
    assert client.post("/recommend", json=timed).status_code == 200
    timed["timestamps"] = [1]
    wrong = client.post("/recommend", json=timed)
    assert wrong.status_code == 422 and "timestamps" in wrong.json()["detail"]


def test_health_model_items_playground_and_docs(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["models"] == ["popularity", "markov", "als"]
    assert health["limits"]["max_history"] == 1000
    models = client.get("/model").json()["models"]
    assert [m["name"] for m in models] == ["popularity", "markov", "als"]
    assert models[2]["manifest"] == {"model": "als", "dataset": "shop:tiny"} and models[2]["n_items"] == 546
    assert client.get("/model/markov").json()["name"] == "markov"

    found = client.get("/items", params={"query": "CAT WINDOW", "limit": 5}).json()
    assert found["total"] >= 1 and all("cat window" in item["title"].lower() for item in found["items"])
    assert set(found["items"][0]) == {"item", "title", "category"}
    assert len(client.get("/items", params={"query": "cat", "limit": 3}).json()["items"]) == 3
    assert client.get("/items", params={"query": "shop-0002"}).json()["items"][0]["item"] == "shop-0002"
    assert client.get("/items", params={"query": "zzz-no-such-title"}).json() == {"model": "popularity", "total": 0, "items": []}

    page = client.get("/")
    assert page.status_code == 200 and "seqrec playground" in page.text and "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("static/playground.js", "static/playground.css"):
        assert client.get(f"/{asset}").status_code == 200 and asset in page.text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/recommend", "/recommend/batch", "/explain", "/health", "/model", "/items"} <= set(paths)


def test_one_model_needs_no_name_several_do(predictors: dict[str, Predictor], client: TestClient) -> None:
    with TestClient(create_app({"markov": predictors["markov"]}, api_key="")) as single:
        assert single.post("/recommend", json={"history": ["shop-0001"]}).json()["model"] == "markov"
        assert single.post("/explain", json={"history": ["shop-0001"], "item": "shop-0002"}).status_code == 200
    unnamed = client.post("/recommend", json={"history": ["shop-0001"]})
    assert unnamed.status_code == 422 and "popularity, markov, als" in unnamed.json()["detail"]
    for method, path, body in [
        ("POST", "/recommend", {"history": [], "model": "gru4rec"}),
        ("POST", "/recommend/batch", {"histories": [[]], "model": "gru4rec"}),
        ("POST", "/explain", {"history": [], "item": "shop-0001", "model": "gru4rec"}),
        ("GET", "/model/gru4rec", None),
        ("GET", "/items?model=gru4rec", None),
    ]:
        response = client.request(method, path, json=body)
        assert response.status_code == 404 and "unknown model 'gru4rec'" in response.json()["detail"], path


# -- limits and malformed requests ------------------------------------------------------------


def test_limits_are_4xx_with_a_message(predictors: dict[str, Predictor]) -> None:
    limits = ServerLimits(max_history=5, max_k=7, max_batch=3, max_body_bytes=2_000, max_search_results=4)
    with TestClient(create_app({"markov": predictors["markov"]}, limits=limits)) as client:
        ok = ["shop-0001"] * 5
        assert client.post("/recommend", json={"history": ok, "k": 7}).status_code == 200
        assert client.post("/recommend/batch", json={"histories": [ok] * 3}).status_code == 200
        cases = [
            ({"history": ok + ["shop-0002"]}, "history: at most 5 entries, got 6"),
            ({"history": ok, "k": 8}, "k: k is at most 7, got 8"),
            ({"history": ok, "k": 0}, "k: Input should be greater than or equal to 1"),
        ]
        for body, message in cases:
            response = client.post("/recommend", json=body)
            assert response.status_code == 422 and message in response.json()["detail"], response.text
        batch = client.post("/recommend/batch", json={"histories": [ok] * 4})
        assert batch.status_code == 422 and "at most 3 histories, got 4" in batch.json()["detail"]
        long_row = client.post("/recommend/batch", json={"histories": [ok, ok + ok]})
        assert long_row.status_code == 422 and long_row.json()["errors"][0]["where"] == "histories.1"
        assert client.post("/explain", json={"history": ok + ok, "item": "shop-0002"}).status_code == 422
        assert client.get("/items?limit=5").status_code == 422

        huge = b'{"history": ["' + b"x" * 3_000 + b'"]}'
        declared = client.post("/recommend", content=huge, headers={"content-type": "application/json"})
        assert declared.status_code == 413 and "2000 bytes" in declared.json()["detail"]
        chunked = client.post("/recommend", content=iter([huge[:1_500], huge[1_500:]]), headers={"content-type": "application/json"})
        assert chunked.status_code == 413  # no Content-Length: counted as it arrives


def test_k_beyond_the_catalog_gives_what_can_be_ranked(client: TestClient) -> None:
    history = ["shop-0001", "shop-0002", "shop-0003"]
    body = client.post("/recommend", json={"history": history, "k": 1000, "model": "markov"}).json()
    assert len(body["items"]) == 546 - 3 and all(r["score"] is not None for r in body["items"])
    assert not {r["item"] for r in body["items"]} & set(history)


def test_wrong_types_and_strict_unknown_items_are_422(client: TestClient) -> None:
    response = client.post("/recommend", json={"history": [1.5, None], "k": "10", "model": "markov"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "k: Input should be a valid integer" in detail and "history.0: expected an item id or title" in detail
    assert "got a number with a fraction" in detail
    strict = client.post("/recommend", json={"history": ["shop-0001", "nope"], "strict": True, "model": "markov"})
    assert strict.status_code == 422 and "'nope'" in strict.json()["detail"]
    unknown_item = client.post("/explain", json={"history": [], "item": "nope", "model": "markov"})
    assert unknown_item.status_code == 422 and "'nope'" in unknown_item.json()["detail"]
    not_json = client.post("/recommend", content=b'{"history": [', headers={"content-type": "application/json"})
    assert not_json.status_code == 422 and "invalid JSON" in not_json.json()["detail"]
    typo = client.post("/recommend", json={"histroy": [], "model": "markov"})
    assert typo.status_code == 422 and "histroy: Extra inputs are not permitted" in typo.json()["detail"]


def test_200_malformed_requests_are_all_4xx_and_the_server_stays_up(client: TestClient) -> None:
    statuses = {}
    for probe in malformed_requests(200):
        response = client.request(probe.method, probe.path, content=probe.content, headers=probe.header_dict)
        statuses[probe] = response.status_code
        assert 400 <= response.status_code < 500, (probe.method, probe.path, probe.content[:80], response.text[:200])
        assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    assert len(set(statuses)) >= 60 and {400, 404, 405, 413, 422} <= set(statuses.values())
    assert client.get("/health").status_code == 200
    assert client.post("/recommend", json={"history": ["shop-0001"], "model": "markov"}).status_code == 200


def test_a_bug_is_a_logged_500(predictors: dict[str, Predictor], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = Predictor(predictors["markov"].model, predictors["markov"].items)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a real bug")

    monkeypatch.setattr(broken, "recommend", fail)
    with TestClient(create_app({"markov": broken}), raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR, "seqrec.serving"):
        response = client.post("/recommend", json={"history": ["shop-0001"]})
        assert response.status_code == 500 and "RuntimeError" in response.json()["detail"]
        assert "POST /recommend failed" in caplog.text and "a real bug" in caplog.text
        assert client.get("/health").status_code == 200


def test_numpy_values_and_non_finite_floats_render_as_json() -> None:
    content = {"a": np.int64(3), "b": [np.float32(0.5), float("nan"), -np.inf], "c": np.arange(2)}
    assert SafeJSONResponse(content).body == b'{"a":3,"b":[0.5,null,null],"c":[0,1]}'


# -- the API key ------------------------------------------------------------------------------


def test_api_key_from_argument_or_environment(predictors: dict[str, Predictor], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQREC_API_KEY", "from-env")
    only = {"markov": predictors["markov"]}
    for app, key in [(create_app(only, api_key="s3cret"), "s3cret"), (create_app(only), "from-env")]:
        with TestClient(app) as client:
            request = {"history": ["shop-0001"]}
            for headers in [{}, {"X-API-Key": "wrong"}, {"X-API-Key": key + "x"}, {"X-API-Key": ""}]:
                response = client.post("/recommend", json=request, headers=headers)
                assert response.status_code == 401 and "X-API-Key" in response.json()["detail"]
            for path in ("/model", "/items?query=cat"):
                assert client.get(path).status_code == 401
                assert client.get(path, headers={"X-API-Key": key}).status_code == 200
            assert client.post("/recommend", json=request, headers={"X-API-Key": key}).status_code == 200
            assert client.post("/explain", json={**request, "item": "shop-0002"}).status_code == 401
            assert client.get("/health").status_code == 200 and client.get("/").status_code == 200


# -- micro-batching and a real socket ---------------------------------------------------------


def test_concurrent_requests_are_batched_and_answered_as_single_ones(predictors: dict[str, Predictor], shop: Dataset) -> None:
    train, items = leave_one_out(shop.sequences).train, shop.item_info()
    served = {**predictors, "sasrec": Predictor(build_model("sasrec", SASREC_TINY, 1).fit(train, items=items), items)}
    rows = histories(shop, 40)
    app = create_app(served, batch_wait_ms=30)

    async def ask(url: str) -> list[tuple[str, int, httpx.Response]]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            calls = [(name, row) for name in served for row in range(len(rows))]
            replies = await asyncio.gather(*(http.post("/recommend", json={"history": rows[row], "k": 10, "model": name}) for name, row in calls))
            return [(name, row, reply) for (name, row), reply in zip(calls, replies)]

    with running_server(app) as url:
        answers = asyncio.run(ask(url))
        batching = httpx.get(f"{url}/health", timeout=10).json()["batching"]
    for name, row, reply in answers:
        assert reply.status_code == 200, reply.text
        (alone,) = served[name].recommend([rows[row]], 10, exclude_seen=True)
        got, expected = reply.json()["items"], as_json(alone)
        assert [r["item"] for r in got] == [r["item"] for r in expected], (name, row)
        assert [r["score"] for r in got] == pytest.approx([r["score"] for r in expected], rel=1e-4, abs=1e-5)
    for name in served:
        assert batching[name]["requests"] == len(rows) and batching[name]["rows"] == len(rows)
        assert batching[name]["calls"] < len(rows) / 2, batching  # batched, not one call per request


def test_a_failing_request_fails_alone_in_its_batch(predictors: dict[str, Predictor]) -> None:
    markov = predictors["markov"]

    class Fussy:
        items = markov.items

        def recommend(self, histories: list[list[str]], k: int, exclude_seen: bool, timestamps: Any) -> list[RecommendationList]:
            if any("boom" in history for history in histories):
                raise ValueError("boom")
            return markov.recommend(histories, k, exclude_seen, timestamps)

    async def run() -> list[Any]:
        batcher = MicroBatcher(Fussy(), threading.Lock(), wait_s=0.05)  # type: ignore[arg-type]
        rows: list[list[str | int]] = [["shop-0001"], ["boom"], ["shop-0002"], []]
        jobs = [batcher.recommend([history], 3, True) for history in rows]
        try:
            return await asyncio.gather(*jobs, return_exceptions=True)
        finally:
            await batcher.close()

    good, bad, other, empty = asyncio.run(run())
    assert isinstance(bad, ValueError)
    assert good == markov.recommend([["shop-0001"]], 3, True) and other == markov.recommend([["shop-0002"]], 3, True)
    assert empty == markov.recommend([[]], 3, True)


def test_over_a_real_socket(predictors: dict[str, Predictor]) -> None:
    app = create_app({"popularity": predictors["popularity"]}, limits=ServerLimits(max_body_bytes=10_000))
    with running_server(app, "127.0.0.1", 0) as url:
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, timeout=10) as http:
            response = http.post("/recommend", json={"history": ["shop-0001"], "k": 3})
            assert response.status_code == 200 and len(response.json()["items"]) == 3
            chunks = iter([b'{"history": ["', b"x" * 20_000, b'"]}'])  # chunked: no Content-Length
            assert http.post("/recommend", content=chunks, headers={"content-type": "application/json"}).status_code == 413
        port = int(url.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # stopped: nothing listens any more


def test_the_entry_point_trains_serves_and_stops() -> None:
    command = [sys.executable, "-m", "seqrec.serving.server", "--dataset", "shop:tiny", "--models", "popularity,markov"]
    command += ["--set", "markov.order=2", "--port", "0", "--log-level", "error"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # printed once the socket listens
        assert line.startswith("seqrec serving http://127.0.0.1:") and "popularity, markov" in line, line
        url = line.split()[2]
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["models"] == ["popularity", "markov"]
        manifest = httpx.get(f"{url}/model/markov", timeout=10).json()["manifest"]
        assert manifest["dataset"] == "shop" and manifest["config"]["order"] == 2
    finally:
        server.terminate()
        # uvicorn shuts down cleanly, then re-raises SIGTERM so that the exit status says why
        assert server.wait(20) in (0, -signal.SIGTERM)


def test_settings_and_bad_arguments() -> None:
    from seqrec.serving.server import _settings

    assert _settings(["sasrec.epochs=5", "als.solver=cg", "sasrec.progress=false"]) == {
        "sasrec": {"epochs": 5, "progress": False},
        "als": {"solver": "cg"},
    }
    with pytest.raises(ValueError, match="MODEL.FIELD=VALUE"):
        _settings(["epochs=5"])
    bad = subprocess.run(
        [sys.executable, "-m", "seqrec.serving.server", "--models", "no-such-model", "--port", "0"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert bad.returncode == 2 and "no-such-model" in bad.stderr
