"""A small OpenAI-compatible chat server backed by an in-process causal LM.

``create_llm_app(TransformersLM(...))`` gives a FastAPI application with

* ``POST /v1/chat/completions`` ``{"model", "messages": [{"role", "content"}], "max_tokens",
  "temperature", "logprobs", "top_logprobs"}`` -> ``{"id", "object": "chat.completion",
  "created", "model", "choices": [{"index": 0, "message": {"role": "assistant", "content"},
  "logprobs": {"content": [{"token", "logprob", "top_logprobs": [{"token", "logprob"}]}]} | null,
  "finish_reason"}], "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}``;
* ``GET /v1/models`` and ``GET /health``.

Decoding is greedy whatever the temperature (the answers are deterministic, as the ranker's
response cache assumes); one request runs at a time (the model holds a lock). It is the server
the LLM ranker's ``backend="openai"`` talks to in the tests, and a way to share one loaded model
between processes::

    python -m seqrec.serving.llm_server --model SmolLM2-135M-Instruct --port 8001 --threads 1
"""

# No ``from __future__ import annotations``: FastAPI reads the request model's annotations at run time.

import argparse
import time
import uuid
from collections.abc import Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from seqrec.models.llm.backends import DEFAULT_LLM, TransformersLM

MAX_TOP_LOGPROBS = 20
"""The most alternatives per token a request may ask for (as OpenAI's API)."""


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str = ""
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int = Field(default=128, ge=1, le=4096)
    temperature: float = 0.0
    logprobs: bool = False
    top_logprobs: int = Field(default=0, ge=0, le=MAX_TOP_LOGPROBS)


def create_llm_app(lm: TransformersLM, served_name: str | None = None) -> FastAPI:
    """The application serving ``lm`` under ``served_name`` (default: its model name)."""
    name = served_name or lm.model_name
    app = FastAPI(title="seqrec LLM server", version="1")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": name}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "seqrec"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatRequest) -> dict[str, Any]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        top = request.top_logprobs if request.logprobs else 0
        try:
            completion = await run_in_threadpool(
                lm.complete_chat, messages, request.max_tokens, top
            )
        except ValueError as error:  # e.g. a role the chat template rejects
            raise HTTPException(status_code=400, detail=str(error)) from None
        logprobs = None
        if request.logprobs:
            logprobs = {
                "content": [
                    {
                        "token": choice.token,
                        "logprob": choice.logprob,
                        "top_logprobs": [
                            {"token": token, "logprob": value} for token, value in choice.top
                        ],
                    }
                    for choice in completion.tokens
                ]
            }
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": completion.text},
                    "logprobs": logprobs,
                    "finish_reason": completion.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "total_tokens": completion.prompt_tokens + completion.completion_tokens,
            },
        }

    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m seqrec.serving.llm_server", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_LLM,
        help="a packaged model name, a local model folder or a .gguf file",
    )
    parser.add_argument(
        "--name", default=None, help="the model name the server answers with (default: --model)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the model")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    lm = TransformersLM(args.model, threads=args.threads)
    lm.loaded()  # convert (first time) and load before listening
    print(f"seqrec LLM server: {args.model} on http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(
        create_llm_app(lm, args.name), host=args.host, port=args.port, log_level=args.log_level
    )


if __name__ == "__main__":
    main()
