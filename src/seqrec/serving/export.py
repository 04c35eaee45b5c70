"""ONNX export of the sequence networks: item ids in, a score for every item out.

``seqrec export DIR --format onnx [--out FILE]`` (or :func:`export_artifact`) writes the network
of a trained neural model (a :class:`~seqrec.models.neural.recommender.NeuralRecommender`) as one
ONNX file that scores exactly as ``model.score`` does:

* input ``input_ids``: int64 ``[batch, max_len]``, each row the history's last ``max_len`` item
  ids (dense ids, as ``items.parquet`` numbers them), **left-padded** with 0, the newest item in
  the last column; the batch size is dynamic;
* output ``scores``: float32 ``[batch, n_items + 1]``; column 0 is padding and is ``-inf``.

A masked-LM network (BERT4Rec) gets the same input: the graph drops its first column and appends
the [mask] token, as :func:`~seqrec.models.neural.batching.history_inputs` does. The file's
metadata (``metadata_props``) names the model, ``n_items``, ``max_len`` and this layout.

The exporter: torch 2.13's default, ``torch.onnx.export(..., dynamo=True)`` (``torch.export``
then onnxscript; runs offline), is tried first; networks that ``torch.export`` cannot trace — the
GRU-based ones (GRU4Rec, NARM), whose ``pack_padded_sequence`` it does not support — are exported
by the TorchScript exporter (``dynamo=False``), which does. Every export is then checked: the file
is run with onnxruntime on random histories (every length from 1 to beyond ``max_len``, the
catalog's ids at random) and, where the caller gives them, real ones, and compared with
``model.checked_scores`` on the same histories; the largest absolute difference must be below
:data:`TOLERANCE` or the file is not written (:class:`ExportCheckError`). An exporter whose file
onnxruntime cannot run or that fails the check is followed by the other one.

What exports: every network of the registry's neural models (SASRec, BERT4Rec, GRU4Rec, NARM,
Caser, NextItNet, SR-GNN, CL4SRec, DuoRec, and UniSRec; see ``bench/results/onnx_export.md``). What does not:
models without a network (Markov chains, ALS, BPR, the neighbourhood and rule models): their
scores come from per-history solves or lookups in numpy/scipy, not a torch module;
:func:`exportable` says why for any model.

``onnx``, ``onnxscript`` and ``onnxruntime`` come with the optional extra ``seqrec[export]``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from seqrec.data.types import SequenceData
from seqrec.models.base import CapabilityError, Recommender
from seqrec.serving.ann import MissingExtraError

FORMATS = ("onnx",)
TOLERANCE = 1e-4
"""Largest absolute difference allowed between onnxruntime's and PyTorch's scores."""
INPUT_NAME = "input_ids"
OUTPUT_NAME = "scores"
Exporter = Literal["dynamo", "torchscript"]
EXTRA_HINT = "pip install 'seqrec[export]' (onnx, onnxscript, onnxruntime)"


class ExportCheckError(ValueError):
    """The exported file does not score as the PyTorch model does (or cannot be run)."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote and how well it matches PyTorch."""

    model: str
    path: str
    exporter: Exporter
    seconds: float
    bytes: int
    max_abs_diff_random: float
    max_abs_diff_real: float | None
    n_items: int
    max_len: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def require_export_packages() -> tuple[Any, Any]:
    """``(onnx, onnxruntime)``, or a :class:`MissingExtraError` naming the extra that installs them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise MissingExtraError(f"ONNX export needs onnx and onnxruntime ({error.name} is missing): {EXTRA_HINT}") from error
    return onnx, onnxruntime


def exportable(model: Recommender[Any]) -> str:
    """``""`` if ``model``'s scores can be exported as an ONNX network, else why not."""
    from seqrec.models.neural.recommender import NeuralRecommender

    if not isinstance(model, NeuralRecommender):
        return (
            f"{model.name} has no torch network to export: its scores come from per-history "
            "computations in numpy/scipy (ONNX export covers the neural sequence models)"
        )
    network = model.network
    if network is not None and network.uses_time:
        return (
            f"{model.name} reads the histories' timestamps as well as their items; the exported graph "
            "takes item ids only, so its export is not supported yet"
        )
    return ""


def onnx_inputs(histories: SequenceData, max_len: int) -> np.ndarray:
    """The exported graph's input for ``histories``: int64 ``[B, max_len]``, left-padded."""
    from seqrec.models.neural.batching import history_inputs
    from seqrec.models.neural.network import Objective

    return history_inputs(histories, max_len, Objective.CAUSAL).numpy()


def random_histories(n_items: int, max_len: int, n_rows: int = 64, seed: int = 0) -> SequenceData:
    """``n_rows`` histories of random catalog items, lengths running from 1 to ``max_len + 3``."""
    rng = np.random.default_rng(seed)
    lengths = 1 + np.arange(n_rows) % (max_len + 3)
    rows = [rng.integers(1, n_items + 1, size=int(length)).tolist() for length in lengths]
    return SequenceData.from_lists(rows, n_items)


def export_onnx(
    model: Recommender[Any],
    out: str | Path,
    *,
    real_histories: SequenceData | None = None,
    check_rows: int = 64,
    seed: int = 0,
    exporters: tuple[Exporter, ...] = ("dynamo", "torchscript"),
) -> ExportResult:
    """Export ``model``'s network to ``out`` (written atomically) and check it (module docstring)."""
    reason = exportable(model)
    if reason:
        raise CapabilityError(reason)
    require_export_packages()
    n_items = model.require_fitted()
    max_len = int(model.config.max_len)
    randoms = random_histories(n_items, max_len, check_rows, seed)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for exporter in exporters:
        handle, staging_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(handle)
        staging = Path(staging_name)
        try:
            start = time.perf_counter()
            _export(model, staging, exporter)
            seconds = time.perf_counter() - start
            session = _session(staging)
            random_diff = max_abs_difference(session, model, randoms)
            real_diff = None if real_histories is None else max_abs_difference(session, model, real_histories)
            worst = max(random_diff, real_diff or 0.0)
            if not worst < TOLERANCE:
                raise ExportCheckError(f"scores differ from PyTorch's by up to {worst:.3g} (tolerance {TOLERANCE:g})")
            os.chmod(staging, 0o644)
            os.replace(staging, out)
        except Exception as error:  # noqa: BLE001 - each failure is reported, then the next exporter runs
            staging.unlink(missing_ok=True)
            failures.append(f"{exporter}: {_first_line(error)}")
            continue
        return ExportResult(model.name, str(out), exporter, round(seconds, 3), out.stat().st_size, random_diff, real_diff, n_items, max_len)
    raise ExportCheckError(f"{model.name}: no exporter gave a file that matches PyTorch: " + "; ".join(failures))


def export_artifact(
    folder: str | Path,
    out: str | Path | None = None,
    *,
    fmt: str = "onnx",
    users: str | Path | None = None,
    check_rows: int = 64,
) -> ExportResult:
    """Export the model of the artifact in ``folder`` (``out``: default ``<folder>.onnx`` beside it).

    ``users``: a file of real histories (user,item[,timestamp] rows, as ``seqrec recommend
    --users`` reads them) to check the export on, besides the random ones.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    from seqrec.models.artifact_format import load_model
    from seqrec.serving.batch import read_histories
    from seqrec.serving.inference import Predictor

    require_export_packages()
    model, items, _ = load_model(folder)
    reason = exportable(model)
    if reason:
        raise CapabilityError(reason)
    real = None
    if users is not None:
        predictor = Predictor(model, items)
        rows = [predictor.resolve(history).items for history in read_histories(users, per_user=True).items]
        rows = [row for row in rows if row]
        if not rows:
            raise ValueError(f"{users}: no history names an item of this model's catalog")
        real = SequenceData.from_lists(rows, items.n_items)
    target = Path(out) if out is not None else Path(folder).with_name(Path(folder).name + ".onnx")
    return export_onnx(model, target, real_histories=real, check_rows=check_rows)


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for an exported file (``threads``: intra-op threads)."""
    _, ort = require_export_packages()
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def max_abs_difference(session: Any, model: Recommender[Any], histories: SequenceData) -> float:
    """The largest |onnxruntime - PyTorch| over the real items' scores of ``histories`` (the
    padding column must be ``-inf`` in both)."""
    expected = model.checked_scores(histories)
    found = session.run([OUTPUT_NAME], {INPUT_NAME: onnx_inputs(histories, int(model.config.max_len))})[0]
    if found.shape != expected.shape:
        raise ExportCheckError(f"the exported graph gives scores of shape {found.shape}, PyTorch {expected.shape}")
    if not np.all(np.isneginf(found[:, 0])):
        raise ExportCheckError("the exported graph's padding column is not -inf")
    return float(np.abs(found[:, 1:].astype(np.float64) - expected[:, 1:]).max(initial=0.0))


# -- the graph and the exporters -------------------------------------------------------------------
def scoring_module(model: Recommender[Any]) -> Any:
    """A CPU copy of ``model``'s network as a module ``input_ids [B, L] -> scores [B, n_items + 1]``."""
    import torch
    from torch import Tensor, nn

    from seqrec.models.neural.network import Objective, mask_token
    from seqrec.models.neural.recommender import NeuralRecommender

    assert isinstance(model, NeuralRecommender)
    network = copy.deepcopy(model.require_network()).cpu().eval()

    class Scores(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            self.masked = network.objective is Objective.MASKED
            self.mask_id = mask_token(network.n_items)

        def forward(self, input_ids: Tensor) -> Tensor:
            if self.masked:  # the last max_len - 1 items, then the [mask] token
                input_ids = torch.cat([input_ids[:, 1:], torch.full_like(input_ids[:, :1], self.mask_id)], dim=1)
            scores = self.network.logits(self.network.encode(input_ids)[:, -1])  # [B, n_items + 1]
            return torch.cat([torch.full_like(scores[:, :1], float("-inf")), scores[:, 1:]], dim=1)

    return Scores().eval()


def _export(model: Recommender[Any], path: Path, exporter: Exporter) -> None:
    import torch

    module = scoring_module(model)
    example = torch.from_numpy(onnx_inputs(random_histories(model.require_fitted(), int(model.config.max_len), 4), int(model.config.max_len)))
    with _quiet(), torch.no_grad():
        if exporter == "dynamo":
            torch.onnx.export(
                module, (example,), str(path), dynamo=True, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch")}}, external_data=False, verbose=False,
            )
        else:
            torch.onnx.export(
                module, (example,), str(path), dynamo=False, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, opset_version=17,
            )
    _describe(path, model, exporter)


def _describe(path: Path, model: Recommender[Any], exporter: Exporter) -> None:
    """Write what the graph is into the file's ``metadata_props``."""
    onnx, _ = require_export_packages()
    graph = onnx.load(str(path))
    props = {
        "seqrec.model": model.name,
        "seqrec.n_items": str(model.require_fitted()),
        "seqrec.max_len": str(model.config.max_len),
        "seqrec.exporter": exporter,
        "seqrec.input": f"{INPUT_NAME}: int64 [batch, max_len], the last max_len item ids, left-padded with 0",
        "seqrec.output": f"{OUTPUT_NAME}: float32 [batch, n_items + 1], column 0 (padding) is -inf",
    }
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, str(path))


def _session(path: Path) -> Any:
    try:
        return onnx_session(path)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ExportCheckError(f"onnxruntime cannot run the file: {_first_line(error)}") from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters' progress lines, warnings and log messages (Python's and, on file
    descriptor 2, the TorchScript exporter's C++ ones) kept off the terminal; errors still raise."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    sys.stderr.flush()
    saved_fd = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull, warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            os.dup2(devnull.fileno(), 2)
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return f"{type(error).__name__}: {line[:300]}"
