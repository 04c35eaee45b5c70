"""The HTTP server: one or more :class:`~seqrec.serving.inference.Predictor` behind a JSON API,
and the playground page.

``create_app({"als": predictor, ...})`` gives a FastAPI application; :func:`serve` runs it with
uvicorn, :func:`running_server` runs it in a background thread (tests, notebooks), and
``python -m seqrec.serving.server`` trains models in-process on a dataset (or loads artifact
folders) and serves them.

Endpoints (JSON; the key, when set, goes in the ``X-API-Key`` header of every endpoint but
``/health``, the playground and the docs):

* ``POST /recommend`` ``{"history": [...], "k": 10, "exclude_seen": true, "model": ..., "timestamps": [...]}``
  -> ``{"model", "items": [{"item", "title", "category", "rank", "score"}], "unknown": [...]}``
* ``POST /recommend/batch`` ``{"histories": [[...], ...], ...}`` -> ``{"model", "results": [...]}``
* ``POST /explain`` ``{"history": [...], "item": ..., "model": ...}`` -> the titled explanation
* ``GET /health``, ``GET /model`` (every served model and its manifest), ``GET /model/{name}``,
  ``GET /items?query=&limit=`` (catalog search by title), ``GET /`` (playground), ``/docs``.

History entries are original item ids or exact titles (see :meth:`Predictor.resolve`). Requests
are checked against :class:`ServerLimits`; a malformed request is a 4xx with a message (422 for
validation, 413 for a body over the limit — counted as it arrives, so a body without
Content-Length is held to it too — 404 for an unknown model, 401 for a missing or wrong key), and
only a bug is a 500 (logged).

Concurrent ``/recommend`` calls to one model are micro-batched (:class:`MicroBatcher`): requests
that arrive within ``batch_wait_ms`` of each other, or while the model is busy, go to the model
as one batch. That is exact because a model's answer for a history does not depend on the other
histories in its batch (the contract suite checks it for every model).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoint annotations at
# run time, and the request models are built per application (their limits are arguments).

import argparse
import asyncio
import contextlib
import dataclasses
import hmac
import json
import logging
import math
import os
import socket
import sys
import threading
import time
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Self, TypeVar

import numpy as np
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    model_validator,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seqrec.serving.inference import Predictor, RecommendationList, UnknownItemsError

logger = logging.getLogger("seqrec.serving")

PLAYGROUND = Path(__file__).parent / "playground"
API_KEY_ENV = "SEQREC_API_KEY"
API_KEY_HEADER = "X-API-Key"
MAX_TOKEN_CHARS = 1_000
"""Longest history entry (an item id or a title) a request may hold."""
INT64 = 2**63

T = TypeVar("T")


@dataclass(frozen=True)
class ServerLimits:
    """What one request may ask for; anything beyond is a 4xx, never work for the server."""

    max_history: int = 1_000
    """Entries per history (and timestamps per history)."""
    max_k: int = 1_000
    """Largest ``k``."""
    max_batch: int = 256
    """Histories per ``/recommend/batch`` request."""
    max_body_bytes: int = 1 << 20
    """Request body size in bytes (1 MiB)."""
    max_search_results: int = 100
    """Largest ``limit`` of ``/items``."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ServerLimits.{name} must be a whole number of at least 1, got {value!r}")


# -- micro-batching ---------------------------------------------------------------------------


@dataclass
class _Job:
    histories: list[list[str | int]]
    timestamps: list[list[int]] | None
    k: int
    exclude_seen: bool
    future: "asyncio.Future[list[RecommendationList]]"

    @property
    def key(self) -> tuple[int, bool, bool]:
        """Jobs with equal keys can share one call of ``Predictor.recommend``."""
        return self.k, self.exclude_seen, self.timestamps is None


class MicroBatcher:
    """Collects concurrent ``recommend`` calls to one predictor into one call per batch.

    A worker task takes the first waiting request, waits ``wait_s`` for more (``0``: takes only
    those already waiting, which under load are the ones that arrived while the model was busy),
    stops at ``max_rows`` histories, and calls ``predictor.recommend`` once per group of requests
    with equal ``k``, ``exclude_seen`` and presence of timestamps, in a worker thread, under
    ``lock`` (one call into a model at a time). Each request gets its slice of the answer. When a
    batched call fails, each of its requests is run alone, so one bad request fails only itself.
    """

    def __init__(self, predictor: Predictor, lock: threading.Lock, wait_s: float = 0.002, max_rows: int = 256) -> None:
        if wait_s < 0 or max_rows < 1:
            raise ValueError(f"batch wait must be >= 0 s and max rows >= 1, got {wait_s} and {max_rows}")
        self.predictor = predictor
        self.lock = lock
        self.wait_s = wait_s
        self.max_rows = max_rows
        self.calls = 0
        """Calls of ``predictor.recommend`` so far."""
        self.requests = 0
        """Requests answered (successfully or not) so far."""
        self.rows = 0
        """Histories recommended for so far."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None

    async def recommend(
        self,
        histories: list[list[str | int]],
        k: int,
        exclude_seen: bool,
        timestamps: list[list[int]] | None = None,
    ) -> list[RecommendationList]:
        """``predictor.recommend(histories, k, exclude_seen, timestamps)``, batched with others."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[RecommendationList]] = loop.create_future()
        self._queue_of(loop).put_nowait(_Job(histories, timestamps, k, exclude_seen, future))
        return await future

    def stats(self) -> dict[str, float]:
        return {
            "calls": self.calls,
            "requests": self.requests,
            "rows": self.rows,
            "rows_per_call": round(self.rows / self.calls, 2) if self.calls else 0.0,
        }

    async def close(self) -> None:
        """Stop the worker; requests still waiting are cancelled."""
        task, queue = self._task, self._queue
        self._task = self._queue = self._loop = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task
        while queue is not None and not queue.empty():
            queue.get_nowait().future.cancel()

    def _queue_of(self, loop: asyncio.AbstractEventLoop) -> "asyncio.Queue[_Job]":
        """The queue of the running loop, starting its worker on first use (a server has one loop;
        a test client without its context manager may run each request in a new one)."""
        if self._loop is not loop or self._queue is None or self._task is None or self._task.done():
            self._loop, self._queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._work(self._queue), name="seqrec-micro-batcher")
        return self._queue

    async def _work(self, queue: "asyncio.Queue[_Job]") -> None:
        while True:
            jobs = [await queue.get()]
            rows = self._take_waiting(queue, jobs, len(jobs[0].histories))
            if rows < self.max_rows and self.wait_s > 0:
                await asyncio.sleep(self.wait_s)
                self._take_waiting(queue, jobs, rows)
            groups: dict[tuple[int, bool, bool], list[_Job]] = {}
            for job in jobs:
                groups.setdefault(job.key, []).append(job)
            for group in groups.values():
                await self._run(group)

    def _take_waiting(self, queue: "asyncio.Queue[_Job]", jobs: list[_Job], rows: int) -> int:
        while rows < self.max_rows and not queue.empty():
            job = queue.get_nowait()
            jobs.append(job)
            rows += len(job.histories)
        return rows

    async def _run(self, jobs: list[_Job]) -> None:
        first = jobs[0]
        histories = [history for job in jobs for history in job.histories]
        times = None if first.timestamps is None else [t for job in jobs for t in job.timestamps or []]
        try:
            results = await asyncio.to_thread(self._call, histories, first.k, first.exclude_seen, times)
        except Exception as error:  # noqa: BLE001 - delivered to the request(s) it belongs to
            if len(jobs) > 1:
                for job in jobs:
                    await self._run([job])
            else:
                self.requests += 1
                _deliver(first.future, error=error)
            return
        start = 0
        for job in jobs:
            end = start + len(job.histories)
            _deliver(job.future, results[start:end])
            start = end
        self.requests += len(jobs)

    def _call(
        self, histories: list[list[str | int]], k: int, exclude_seen: bool, times: list[list[int]] | None
    ) -> list[RecommendationList]:
        with self.lock:
            self.calls += 1
            self.rows += len(histories)
            return self.predictor.recommend(histories, min(k, self.predictor.items.n_items), exclude_seen, times)


def _deliver(future: "asyncio.Future[T]", result: T | None = None, error: BaseException | None = None) -> None:
    if future.done():  # the request was cancelled (client gone)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


# -- the application --------------------------------------------------------------------------


class _Served:
    """One served model: its predictor, the lock around calls into it, its batcher and search index."""

    def __init__(self, name: str, predictor: Predictor, wait_s: float, max_rows: int) -> None:
        self.name = name
        self.predictor = predictor
        self.lock = threading.Lock()
        self.batcher = MicroBatcher(predictor, self.lock, wait_s, max_rows)
        self.search_titles = [str(title).casefold() for title in predictor.items.titles]
        self.search_labels = [str(label).casefold() for label in predictor.items.labels]

    def describe(self) -> dict[str, Any]:
        model = self.predictor.model
        return {
            "name": self.name,
            "model": self.predictor.name,
            "n_items": self.predictor.items.n_items,
            "dense_scores": bool(model.capabilities.dense_scores),
            "manifest": _plain(self.predictor.manifest),
        }

    def explain(self, history: list[str | int], item: str | int) -> dict[str, Any]:
        with self.lock:
            return self.predictor.explain(history, item)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is a 413, whether or not it declares a
    Content-Length (the bytes are counted as they arrive; nothing past the limit is read)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse({"detail": self.message}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI passes an HTTPException raised while it reads the body through.
                    raise HTTPException(status_code=413, detail=self.message)
            return message

        await self.app(scope, limited, send)

    @property
    def message(self) -> str:
        return f"request body too large: the limit is {self.max_bytes} bytes"


class SafeJSONResponse(JSONResponse):
    """JSON with numpy values as plain numbers and non-finite floats as null (never a 500)."""

    def render(self, content: Any) -> bytes:
        try:  # the common case: plain already
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError):
            text = json.dumps(_plain(content), ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, Path):
        return str(value)
    return value


def _recommendations(result: RecommendationList) -> dict[str, Any]:
    """The JSON of one list; entries scored ``-inf`` (masked: asked for more items than could be
    ranked) are left out."""
    out = result.to_dict()
    out["items"] = [r for r in out["items"] if r["score"] is None or r["score"] != -math.inf]
    return out


class RecommendedItem(BaseModel):
    item: str = Field(description="The item's original id.")
    title: str
    category: str
    rank: int
    score: float | None = Field(description="The model's score (dense scorers); null for ranked-list models.")


class Recommendations(BaseModel):
    items: list[RecommendedItem]
    unknown: list[str] = Field(description="History entries that matched no item and were skipped.")


class RecommendResponse(BaseModel):
    model: str
    items: list[RecommendedItem]
    unknown: list[str] = Field(description="History entries that matched no item and were skipped.")


class BatchResponse(BaseModel):
    model: str
    results: list[Recommendations]


def _token(value: Any) -> str | int:
    """A history entry: a string of at most ``MAX_TOKEN_CHARS`` or an integer (one readable error)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        # pydantic turns a ValueError (not a TypeError) into a validation error
        raise ValueError(f"expected an item id or title (a string or an integer), got {_json_type(value)}")  # noqa: TRY004
    if isinstance(value, str) and len(value) > MAX_TOKEN_CHARS:
        raise ValueError(f"an item id or title is at most {MAX_TOKEN_CHARS} characters, got {len(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {type(None): "null", bool: "a boolean", float: "a number with a fraction", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


Token = Annotated[
    str | int,
    PlainValidator(_token),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": MAX_TOKEN_CHARS}, {"type": "integer"}]}),
]
Entry = Annotated[Token, Field(description="An original item id or an exact title.")]
History = Annotated[list[Entry], Field(description="Item ids or exact titles, oldest first.")]
Times = list[Annotated[StrictInt, Field(ge=-INT64, lt=INT64)]]
ModelName = Annotated[StrictStr | None, Field(max_length=200, description="Optional when one model is served.")]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: ModelName = None
    k: StrictInt = Field(10, ge=1, description="How many items (at most the server's max_k).")
    exclude_seen: StrictBool = Field(True, description="Leave out the items already in the history.")
    strict: StrictBool = Field(False, description="Unknown history entries are an error (422), not skipped.")


class RecommendRequest(_Options):
    history: History
    timestamps: Times | None = Field(None, description="Seconds, one per history entry (time-aware models).")

    @model_validator(mode="after")
    def _times_match(self) -> Self:
        _check_times([self.history], None if self.timestamps is None else [self.timestamps])
        return self


class BatchRequest(_Options):
    histories: list[History]
    timestamps: list[Times] | None = None

    @model_validator(mode="after")
    def _times_match(self) -> Self:
        _check_times(self.histories, self.timestamps)
        return self


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: ModelName = None
    history: History
    item: Token = Field(description="The item to explain: an original id or exact title.")


def _check_times(histories: Sequence[Sequence[Any]], timestamps: Sequence[Sequence[int]] | None) -> None:
    if timestamps is None:
        return
    if len(timestamps) != len(histories):
        raise ValueError(f"{len(timestamps)} timestamp lists for {len(histories)} histories")
    for row, (history, times) in enumerate(zip(histories, timestamps)):
        if len(times) != len(history):
            raise ValueError(f"history {row} has {len(history)} entries and {len(times)} timestamps")


def _check_limits(limits: ServerLimits, histories: Sequence[Sequence[Any]], k: int | None = None, batch: bool = False) -> None:
    """A 422 in the validation format when a request asks for more than ``limits`` allow."""
    errors: list[dict[str, Any]] = []
    if k is not None and k > limits.max_k:
        errors.append({"loc": ("body", "k"), "msg": f"k is at most {limits.max_k}, got {k}", "type": "less_than_equal"})
    if batch and len(histories) > limits.max_batch:
        errors.append({"loc": ("body", "histories"), "msg": f"at most {limits.max_batch} histories, got {len(histories)}", "type": "too_long"})
    for row, history in enumerate(histories):
        if len(history) > limits.max_history:
            where = ("body", "histories", row) if batch else ("body", "history")
            errors.append({"loc": where, "msg": f"at most {limits.max_history} entries, got {len(history)}", "type": "too_long"})
    if errors:
        raise RequestValidationError(errors)


def create_app(
    predictors: dict[str, Predictor],
    *,
    api_key: str | None = None,
    limits: ServerLimits = ServerLimits(),
    batch_wait_ms: float = 2.0,
    batch_max_rows: int = 256,
) -> FastAPI:
    """The HTTP application serving ``predictors`` (name -> predictor; the name is what requests
    give as ``"model"``).

    ``api_key`` (default: the ``SEQREC_API_KEY`` environment variable; none when neither is set,
    or when ``api_key=""``) must then come in the ``X-API-Key`` header of every endpoint but
    ``/health``, the playground page and the docs; it is compared in constant time. ``batch_wait_ms``: how long the micro-batcher
    waits for more requests after the first (``0``: batch only what is already waiting);
    ``batch_max_rows``: most histories in one call of a model.
    """
    if not predictors:
        raise ValueError("create_app needs at least one predictor")
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    expected = key.encode() if key else None
    served = {name: _Served(name, p, batch_wait_ms / 1000, batch_max_rows) for name, p in predictors.items()}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for model in served.values():
            await model.batcher.close()

    app = FastAPI(
        title="seqrec",
        summary="Sequential recommendations for any history, from trained seqrec models.",
        version="1",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.served = served
    app.state.limits = limits
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)

    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Needed when the server has a key.")

    def check_key(given: Annotated[str | None, Depends(header)]) -> None:
        if expected is None:
            return
        if given is None or not hmac.compare_digest(given.encode(), expected):
            raise HTTPException(401, f"missing or wrong API key (send it in the {API_KEY_HEADER} header)")

    keyed = [Depends(check_key)]
    names = ", ".join(served)

    def pick(name: str | None) -> _Served:
        if name is None:
            if len(served) == 1:
                return next(iter(served.values()))
            raise HTTPException(422, f'{len(served)} models are served ({names}): name one with "model"')
        if name not in served:
            raise HTTPException(404, f"unknown model {name!r}; served: {names}")
        return served[name]

    async def recommend(body: _Options, histories: list[list[str | int]], times: list[list[int]] | None) -> tuple[_Served, list[dict[str, Any]]]:
        k = body.k if "k" in body.model_fields_set else min(body.k, limits.max_k)  # the default fits
        _check_limits(limits, histories, k, batch=isinstance(body, BatchRequest))
        model = pick(body.model)
        if body.strict:
            for history in histories:
                model.predictor.resolve(history, strict=True)  # raises before it joins a batch
        results = await model.batcher.recommend(histories, k, body.exclude_seen, times)
        return model, [_recommendations(result) for result in results]

    @app.post("/recommend", dependencies=keyed, response_model=RecommendResponse, tags=["recommend"])
    async def recommend_one(body: RecommendRequest) -> dict[str, Any]:
        """Top-k for one history."""
        times = None if body.timestamps is None else [body.timestamps]
        model, (result,) = await recommend(body, [body.history], times)
        return {"model": model.name, **result}

    @app.post("/recommend/batch", dependencies=keyed, response_model=BatchResponse, tags=["recommend"])
    async def recommend_batch(body: BatchRequest) -> dict[str, Any]:
        """Top-k for each of several histories."""
        model, results = await recommend(body, body.histories, body.timestamps)
        return {"model": model.name, "results": results}

    @app.post("/explain", dependencies=keyed, tags=["recommend"])
    async def explain(body: ExplainRequest) -> dict[str, Any]:
        """Why the model scores ``item`` as it does after ``history`` (evidence with titles)."""
        _check_limits(limits, [body.history])
        model = pick(body.model)
        explanation = await asyncio.to_thread(model.explain, body.history, body.item)
        return {**explanation, "model": model.name}

    @app.get("/health", tags=["server"])
    async def health() -> dict[str, Any]:
        """Liveness, the served models and their batching counters."""
        return {
            "status": "ok",
            "models": list(served),
            "limits": dataclasses.asdict(limits),
            "batching": {name: model.batcher.stats() for name, model in served.items()},
        }

    @app.get("/model", dependencies=keyed, tags=["server"])
    async def models() -> dict[str, Any]:
        """Every served model: name, catalog size, whether it scores densely, its manifest."""
        return {"models": [model.describe() for model in served.values()]}

    @app.get("/model/{name}", dependencies=keyed, tags=["server"])
    async def one_model(name: str) -> dict[str, Any]:
        """One served model (404 when it is not served)."""
        return pick(name).describe()

    @app.get("/items", dependencies=keyed, tags=["catalog"])
    async def items(
        query: Annotated[str, Query(max_length=200, description="Part of a title (any case); empty: the first items.")] = "",
        limit: Annotated[int, Query(ge=1, le=limits.max_search_results)] = 20,
        model: Annotated[str | None, Query(max_length=200, description="Whose catalog (default: the first model's).")] = None,
    ) -> dict[str, Any]:
        """Catalog search by title substring, or an exact item id (for the playground)."""
        served_model = pick(model) if model is not None else next(iter(served.values()))
        catalog, needle = served_model.predictor.items, query.strip().casefold()
        labels = served_model.search_labels
        found = [i for i, title in enumerate(served_model.search_titles) if i > 0 and (needle in title or needle == labels[i])]
        return {
            "model": served_model.name,
            "total": len(found),
            "items": [
                {"item": str(catalog.labels[i]), "title": str(catalog.titles[i]), "category": str(catalog.categories[i])}
                for i in found[:limit]
            ],
        }

    @app.get("/", include_in_schema=False)
    async def playground() -> Response:
        return FileResponse(PLAYGROUND / "index.html", headers={"Content-Security-Policy": "default-src 'self'"})

    app.mount("/static", StaticFiles(directory=PLAYGROUND), name="static")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return SafeJSONResponse(_validation_detail(error.errors()), status_code=422)

    @app.exception_handler(UnknownItemsError)
    async def unknown_items(request: Request, error: UnknownItemsError) -> JSONResponse:
        return SafeJSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(Exception)
    async def bug(request: Request, error: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return SafeJSONResponse({"detail": f"internal server error ({type(error).__name__}); see the server log"}, status_code=500)

    return app


def _validation_detail(errors: Sequence[Any]) -> dict[str, Any]:
    """A readable ``detail`` line and the first errors (where, message; never the input back)."""
    rows = []
    for error in errors[:20]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":
            where, message = "body", f"invalid JSON at character {where or 0}: {error.get('ctx', {}).get('error', message)}"
        rows.append({"where": where or "body", "message": message, "type": str(error.get("type", ""))})
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    detail = "; ".join(f"{row['where']}: {row['message']}" for row in rows[:3]) + more
    return {"detail": detail or "invalid request", "errors": rows}


# -- running it -------------------------------------------------------------------------------


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port=0``: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: FastAPI, log_level: str) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5))


def serve(
    predictors: dict[str, Predictor],
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    api_key: str | None = None,
    limits: ServerLimits = ServerLimits(),
    batch_wait_ms: float = 2.0,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``predictors`` on ``host:port`` until interrupted (``port=0``: a free port).

    ``on_ready(url)`` is called once the socket listens (default: print the URL).
    """
    app = create_app(predictors, api_key=api_key, limits=limits, batch_wait_ms=batch_wait_ms)
    sock = _bind(host, port)
    try:
        url = _url(sock)
        (on_ready or (lambda u: print(f"seqrec serving {u} (models: {', '.join(predictors)})", flush=True)))(url)
        _server(app, log_level).run(sockets=[sock])
    finally:
        sock.close()


@contextlib.contextmanager
def running_server(app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 30.0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread; yields its URL, stops it on exit."""
    sock = _bind(host, port)
    server = _server(app, "warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="seqrec-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.01)
        yield _url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


# -- malformed requests, for tests and the load test ------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One HTTP request: ``client.request(probe.method, probe.path, content=probe.content, headers=probe.headers)``."""

    method: str
    path: str
    content: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)

    @property
    def header_dict(self) -> dict[str, str]:
        return dict(self.headers)


def malformed_requests(count: int, limits: ServerLimits = ServerLimits(), item: str = "shop-0001") -> list[Probe]:
    """``count`` requests of varied kinds that a server with ``limits`` must answer with a 4xx:
    bad JSON, wrong types, values out of range, limits exceeded by one, unknown models, fields,
    paths and methods, wrong content types. ``item`` is a valid item id, so that each request is
    wrong in one way only."""

    def body(value: Any) -> bytes:
        return json.dumps(value).encode()

    ok = [item, item]
    too_long = [item] * (limits.max_history + 1)
    not_bodies: list[Any] = [[], "history", 3, None, True]
    not_histories: list[Any] = [item, 7, {"a": 1}, [1.5], [None], [True], [[item]], [{"item": item}], too_long, ["x" * (MAX_TOKEN_CHARS + 1)]]
    not_ks: list[Any] = [0, -1, limits.max_k + 1, "10", 2.5, True, None, [10]]
    not_flags: list[Any] = ["yes", 1, None]
    not_times: list[Any] = [[1], [1, 2, 3], ["a", "b"], [1.5, 2], [2**64, 1], 5]
    kinds: list[Probe] = [
        Probe("POST", "/recommend", b"{"),
        Probe("POST", "/recommend", b'{"history": [1, 2,]}'),
        Probe("POST", "/recommend", b"\xff\xfe not utf-8"),
        Probe("POST", "/recommend", b"[" * 5000 + b"]" * 5000),
        Probe("POST", "/recommend", b""),
        Probe("POST", "/recommend", body(ok), (("content-type", "text/plain"),)),
        *(Probe("POST", "/recommend", body(value)) for value in not_bodies),
        Probe("POST", "/recommend", body({})),
        Probe("POST", "/recommend", body({"histroy": ok})),
        *(Probe("POST", "/recommend", body({"history": value})) for value in not_histories),
        *(Probe("POST", "/recommend", body({"history": ok, "k": value})) for value in not_ks),
        *(Probe("POST", "/recommend", body({"history": ok, "exclude_seen": value})) for value in not_flags),
        Probe("POST", "/recommend", body({"history": ok, "model": "no-such-model"})),
        Probe("POST", "/recommend", body({"history": ok, "model": 5})),
        Probe("POST", "/recommend", body({"history": [item, "no-such-item"], "strict": True})),
        *(Probe("POST", "/recommend", body({"history": ok, "timestamps": value})) for value in not_times),
        Probe("POST", "/recommend/batch", body({"histories": ok})),
        Probe("POST", "/recommend/batch", body({"histories": [ok] * (limits.max_batch + 1)})),
        Probe("POST", "/recommend/batch", body({"histories": [ok, too_long]})),
        Probe("POST", "/recommend/batch", body({"histories": [ok], "timestamps": [[1, 2], [3, 4]]})),
        Probe("POST", "/recommend/batch", body({"history": ok})),
        Probe("POST", "/explain", body({"history": ok})),
        Probe("POST", "/explain", body({"history": ok, "item": "no-such-item"})),
        Probe("POST", "/explain", body({"history": ok, "item": [item]})),
        Probe("POST", "/explain", body({"history": "x", "item": item})),
        Probe("POST", "/recommend", b'{"history": ["' + b"a" * limits.max_body_bytes + b'"]}'),
        Probe("GET", "/items?limit=0"),
        Probe("GET", f"/items?limit={limits.max_search_results + 1}"),
        Probe("GET", "/items?limit=ten"),
        Probe("GET", "/items?query=" + "q" * 201),
        Probe("GET", "/items?model=no-such-model"),
        Probe("GET", "/model/no-such-model"),
        Probe("GET", "/recommend"),
        Probe("PUT", "/recommend", body({"history": ok})),
        Probe("DELETE", "/health"),
        Probe("GET", "/no/such/path"),
    ]
    return [kinds[i % len(kinds)] for i in range(count)]


# -- python -m seqrec.serving.server ------------------------------------------------------------


def train_predictors(
    dataset: str,
    models: Sequence[str],
    configs: dict[str, dict[str, Any]] | None = None,
    threads: int = 1,
    split: str = "loo",
    report: Callable[[str], None] | None = None,
) -> dict[str, Predictor]:
    """Fit ``models`` in-process on ``dataset`` as ``seqrec benchmark`` does (the split's training
    part; its validation part for early stopping) and wrap each in a :class:`Predictor`."""
    from seqrec.data.datasets import load_dataset
    from seqrec.data.splits import make_split
    from seqrec.experiment import available_models, build_model, fit_model, set_threads

    set_threads(threads)
    data = load_dataset(dataset)
    names = available_models(data, list(models))
    parts = make_split(split, data.sequences, source=data.name)
    items = data.item_info()
    predictors = {}
    for name in names:
        start = time.perf_counter()
        model = fit_model(build_model(name, (configs or {}).get(name), threads), parts, data)
        manifest = {"model": name, "dataset": data.name, "split": split, "config": _plain(vars(model.config))}
        predictors[name] = Predictor(model, items, manifest)
        if report:
            report(f"{name}: fitted on {data.name} in {time.perf_counter() - start:.1f} s")
    return predictors


def _settings(pairs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["sasrec.epochs=5", ...]`` -> ``{"sasrec": {"epochs": 5}}`` (values in TOML syntax,
    bare words as strings)."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        model, _, field = name.partition(".")
        if not (model and field and value):
            raise ValueError(f"--set {pair!r}: expected MODEL.FIELD=VALUE")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        out.setdefault(model.strip(), {})[field.strip()] = parsed
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m seqrec.serving.server",
        description="Serve seqrec models over HTTP: trained here on a dataset, or loaded from artifact folders.",
    )
    parser.add_argument("artifacts", nargs="*", type=Path, help="Artifact folders to serve (instead of training).")
    parser.add_argument("--dataset", default="shop:tiny", help="Dataset to train on when no artifact is given.")
    parser.add_argument("--models", default="popularity,markov", help="Comma-separated models to train.")
    parser.add_argument("--config", type=Path, help="Per-model settings (TOML/JSON, as for seqrec benchmark).")
    parser.add_argument("--set", action="append", default=[], metavar="MODEL.FIELD=VALUE", help="One setting (repeatable).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed).")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch and BLAS.")
    parser.add_argument("--batch-wait-ms", type=float, default=2.0, help="Micro-batching wait after the first request.")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.artifacts:
            predictors = load_predictors(args.artifacts)
        else:
            from seqrec.experiment import check_config, load_config_file

            names = [name.strip() for name in args.models.split(",") if name.strip()]
            configs = load_config_file(args.config, names)
            for model, values in _settings(args.set).items():
                configs[model] = check_config(model, {**configs.get(model, {}), **values}, "--set")
            predictors = train_predictors(args.dataset, names, configs, args.threads, report=logger.info)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    serve(predictors, args.host, args.port, batch_wait_ms=args.batch_wait_ms, log_level=args.log_level)


def load_predictors(folders: Sequence[Path]) -> dict[str, Predictor]:
    """Predictors of artifact folders written by `seqrec train`, keyed by model name."""
    from seqrec.serving.artifact import load_artifact

    predictors: dict[str, Predictor] = {}
    for folder in folders:
        predictor = load_artifact(folder)
        if predictor.name in predictors:
            raise ValueError(f"{folder}: another artifact already serves a model named {predictor.name!r}; serve them from two processes")
        predictors[predictor.name] = predictor
    return predictors


if __name__ == "__main__":
    main()
