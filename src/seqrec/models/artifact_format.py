"""A fitted model as a folder on disk: the artifact format, written and read only here.

:mod:`seqrec.serving.artifact` is the public face (``save_artifact``, ``load_artifact`` giving a
:class:`~seqrec.serving.inference.Predictor`, ``seqrec.load``); the format sits in the models layer
so that the contract suite (:mod:`seqrec.testing`, below serving) can save every model with it.
Layout::

    DIR/
      manifest.json       what the artifact is (below); written last
      state.safetensors   every array of the model's state (Recommender.state()), by name
      items.parquet       the catalog: id (dense, 0 = padding), item (original id), title,
                          category, text, and one "attribute.<name>" column per item attribute
      index.<library>     optional: an approximate retrieval index over the item vectors
                          (built by :mod:`seqrec.serving.ann`; opaque bytes to this module)

``manifest.json`` holds ``format`` (``"seqrec-artifact"``) and ``format_version``, the seqrec
version, the creation time, ``model`` (``name`` in the registry and the full ``config``),
``dataset`` (``name``, ``fingerprint`` of the data as :meth:`SequenceData.fingerprint` gives it,
``n_items``), ``training`` (what the caller recorded: metrics, times, the split), ``state``
(the model's small JSON ``values`` and, for every array, its ``dtype`` and ``shape``) and
``files`` (the byte size and SHA-256 of every data file), and ``retrieval``: ``"exact"``, or
``"ann:<library>"`` when an index is stored, whose results are approximate; ``index`` then names
its ``file`` and the ``settings`` it was built with. No pickle anywhere: arrays are safetensors,
strings are Parquet, the index is its library's own binary format, the rest is JSON (non-finite
floats as Python writes them).

Writing goes to a temporary folder beside ``DIR`` that is renamed into place (an existing
artifact is moved aside first and removed after), so a reader never sees a half-written one.
Reading checks everything before the model sees it and raises :class:`ArtifactError` (a
``ValueError``) naming the file: a missing folder or file, a foreign folder, another format
version, an edited manifest (bad JSON, unknown model, missing fields, array names, dtypes or shapes
that do not match the state file), a truncated or corrupt data file (size, checksum, unreadable
safetensors or Parquet), data other than the caller expects (``expected_fingerprint``). A config
the model rejects is an :class:`ArtifactConfigError`, both an ``ArtifactError`` and a
:class:`~seqrec.models.base.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from seqrec.data.types import ItemInfo
from seqrec.models import REGISTRY
from seqrec.models.base import CapabilityError, ConfigError, Recommender, json_default

FORMAT = "seqrec-artifact"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE = "state.safetensors"
ITEMS = "items.parquet"
ATTRIBUTE_PREFIX = "attribute."
_ITEM_COLUMNS = ("item", "title", "category", "text")
_RESTORE_ERRORS = (ValueError, KeyError, TypeError, IndexError, RuntimeError)


@dataclass(frozen=True)
class IndexFile:
    """An optional retrieval index to store with a model: the file's ``name`` in the folder, its
    bytes, the ``retrieval`` it gives (``"ann:<library>"``) and the JSON ``settings`` it was built with."""

    name: str
    data: bytes
    retrieval: str
    settings: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not _plain_file_name(self.name) or self.name in (MANIFEST, STATE, ITEMS):
            raise ValueError(f"an index file needs a plain name other than {MANIFEST}, {STATE}, {ITEMS}; got {self.name!r}")


class ArtifactError(ValueError):
    """An artifact folder that cannot be read (or written); the message names the file."""


class ArtifactConfigError(ArtifactError, ConfigError):
    """The config in an artifact's manifest is not one its model accepts."""


def check_saveable(model_class: type[Recommender[Any]]) -> None:
    """A :class:`CapabilityError` now, before any training, for a model that refuses to be saved."""
    if model_class.unsaveable_reason:
        raise CapabilityError(f"{model_class.name} cannot be saved: {model_class.unsaveable_reason}")


def check_target(folder: str | Path) -> Path:
    """``folder`` if an artifact may be written there: it does not exist, is empty, or holds an
    artifact (which will be replaced). Anything else is refused, so no other files are lost."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ArtifactError(f"{folder}: exists and is a file, not an artifact folder")
    if folder.is_dir() and any(folder.iterdir()) and not _holds_artifact(folder):
        raise ArtifactError(f"{folder}: exists and is not a seqrec artifact; refusing to replace it (choose another folder)")
    return folder


def save_artifact(
    model: Recommender[Any],
    folder: str | Path,
    items: ItemInfo,
    *,
    dataset_name: str,
    fingerprint: str,
    training: Mapping[str, Any],
    index: IndexFile | None = None,
) -> Path:
    """Write the fitted ``model`` and its catalog ``items`` to ``folder`` (see the module docstring).

    ``fingerprint``: of the data the model was trained on (:meth:`SequenceData.fingerprint`);
    ``training``: JSON-able facts about the run (metrics, seconds, split); ``index``: a retrieval
    index to store beside the model (:func:`seqrec.serving.artifact.save_artifact` builds one with
    ``ann=True``). A model that refuses to be saved (an oracle) raises :class:`CapabilityError`
    before anything is written.
    """
    from safetensors.numpy import save

    target = check_target(folder)
    arrays, values = model.state()
    n_items = model.require_fitted()
    if items.n_items != n_items:
        raise ValueError(f"{model.name} was fitted on {n_items} items, the item info has {items.n_items}")
    state_bytes = save(arrays, metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "seqrec_version": _seqrec_version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"name": model.name, "config": _plain_config(model)},
        "dataset": {"name": dataset_name, "fingerprint": fingerprint, "n_items": n_items},
        "training": dict(training),
        "state": {
            "values": values,
            "arrays": {name: {"dtype": str(array.dtype), "shape": list(array.shape)} for name, array in arrays.items()},
        },
        "retrieval": index.retrieval if index is not None else "exact",
    }
    if index is not None:
        manifest["index"] = {"file": index.name, "settings": dict(index.settings)}
    data_files = (STATE, ITEMS) if index is None else (STATE, ITEMS, index.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        os.chmod(staging, 0o755)
        _write(staging / STATE, state_bytes)
        _write_items(staging / ITEMS, items)
        if index is not None:
            _write(staging / index.name, index.data)
        manifest["files"] = {name: _file_record(staging / name) for name in data_files}
        _write(staging / MANIFEST, (json.dumps(manifest, indent=2, default=json_default) + "\n").encode())
        _replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The checked manifest of the artifact in ``folder`` (format, version and fields)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: no such artifact folder")
    path = folder / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{path}: missing; {folder} is not a seqrec artifact (seqrec train writes one)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ArtifactError(f"{path}: not a seqrec artifact (format {found!r}, expected {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: format version {version!r}; seqrec {_seqrec_version()} reads version {FORMAT_VERSION} "
            f"(written by seqrec {manifest.get('seqrec_version', '?')})"
        )
    for section, fields in {"model": ("name", "config"), "dataset": ("name", "fingerprint", "n_items"), "state": ("values", "arrays"), "files": (STATE, ITEMS)}.items():
        part = manifest.get(section)
        if not isinstance(part, dict) or any(f not in part for f in fields):
            raise ArtifactError(f"{path}: section {section!r} must hold {', '.join(fields)} (edited, or not written by seqrec)")
    return manifest


def load_model(
    folder: str | Path, *, expected_fingerprint: str | None = None, model: Recommender[Any] | None = None
) -> tuple[Recommender[Any], ItemInfo, dict[str, Any]]:
    """The fitted model, its catalog and its manifest, read back from ``folder`` and checked.

    The model is built from the registry with the manifest's config, unless ``model`` (an
    unfitted instance of the saved class and config, e.g. a model not in the registry) is given.
    ``expected_fingerprint``: refuse an artifact trained on other data.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    where = folder / MANIFEST
    saved_on = manifest["dataset"]
    if expected_fingerprint is not None and saved_on["fingerprint"] != expected_fingerprint:
        raise ArtifactError(
            f"{where}: trained on dataset {saved_on['name']!r} with fingerprint {str(saved_on['fingerprint'])[:16]}…, "
            f"not the expected data ({expected_fingerprint[:16]}…): refused"
        )
    model = _model_for(manifest, where, model)
    items = _read_items(folder / ITEMS, manifest)
    arrays = _read_state(folder / STATE, manifest)
    try:
        model.restore(arrays, manifest["state"]["values"], items=items)
    except _RESTORE_ERRORS as error:
        raise ArtifactError(f"{folder / STATE}: does not fit {model.name} with the config in {MANIFEST}: {error}") from None
    if model.require_fitted() != items.n_items or items.n_items != saved_on["n_items"]:
        raise ArtifactError(
            f"{where}: the model has {model.n_items} items, {ITEMS} {items.n_items}, the manifest {saved_on['n_items']}"
        )
    return model, items, manifest


def read_index_file(folder: str | Path, manifest: Mapping[str, Any]) -> tuple[Path, bytes] | None:
    """The path and checked bytes (size, SHA-256) of the artifact's retrieval index; ``None``
    when it stores none (``retrieval`` is ``"exact"``)."""
    folder = Path(folder)
    section = manifest.get("index")
    if section is None:
        return None
    where = folder / MANIFEST
    name = section.get("file") if isinstance(section, dict) else None
    if not isinstance(name, str) or not _plain_file_name(name) or not isinstance(section.get("settings"), dict):
        raise ArtifactError(f"{where}: section 'index' must hold a plain file name and its settings (edited, or not written by seqrec)")
    if name not in manifest["files"]:
        raise ArtifactError(f"{where}: the index file {name} is not listed in 'files' (edited, or not written by seqrec)")
    return folder / name, _checked_bytes(folder / name, dict(manifest))


# -- reading ------------------------------------------------------------------------------------
def _plain_file_name(name: str) -> bool:
    return bool(name) and Path(name).name == name and name not in (".", "..")


def _model_for(manifest: dict[str, Any], where: Path, model: Recommender[Any] | None) -> Recommender[Any]:
    name, config = manifest["model"]["name"], manifest["model"]["config"]
    if model is not None:
        if model.name != name or _plain_config(model) != config:
            raise ArtifactError(f"{where}: holds {name} with config {config}, not the {model.name} given ({model.config})")
        return model
    if name not in REGISTRY:
        raise ArtifactError(f"{where}: unknown model {name!r}; known models: {', '.join(sorted(REGISTRY))}")
    if not isinstance(config, dict):
        raise ArtifactConfigError(f"{where}: the config of {name} must be a table of settings, got {config!r}")
    try:
        return REGISTRY[name](config)
    except ConfigError as error:
        raise ArtifactConfigError(f"{where}: {error}") from None


def _checked_bytes(path: Path, manifest: dict[str, Any]) -> bytes:
    """The contents of a data file, after checking its size and checksum against the manifest."""
    if not path.is_file():
        raise ArtifactError(f"{path}: missing")
    record = manifest["files"][path.name]
    data = path.read_bytes()
    if not isinstance(record, dict) or "bytes" not in record or "sha256" not in record:
        raise ArtifactError(f"{path.parent / MANIFEST}: files.{path.name} must hold bytes and sha256")
    if len(data) != record["bytes"]:
        change = "truncated" if len(data) < record["bytes"] else "longer than written"
        raise ArtifactError(f"{path}: {change}: {len(data)} bytes, the manifest says {record['bytes']}")
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise ArtifactError(f"{path}: corrupt: its SHA-256 does not match the manifest's")
    return data


def _read_state(path: Path, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    data = _checked_bytes(path, manifest)
    try:
        arrays = load(data)
    except (SafetensorError, ValueError) as error:
        raise ArtifactError(f"{path}: not a readable safetensors file ({error})") from None
    declared = manifest["state"]["arrays"]
    if not isinstance(declared, dict):
        raise ArtifactError(f"{path.parent / MANIFEST}: state.arrays must map array names to dtype and shape")
    missing, extra = sorted(set(declared) - set(arrays)), sorted(set(arrays) - set(declared))
    if missing or extra:
        raise ArtifactError(f"{path}: arrays differ from the manifest's: missing {missing}, not listed {extra}")
    for name, array in arrays.items():
        spec = declared[name]
        found = {"dtype": str(array.dtype), "shape": list(array.shape)}
        if not isinstance(spec, dict) or {"dtype": spec.get("dtype"), "shape": spec.get("shape")} != found:
            raise ArtifactError(f"{path}: array {name!r} is {found['dtype']} {found['shape']}, the manifest says {spec}")
    return arrays


def _read_items(path: Path, manifest: dict[str, Any]) -> ItemInfo:
    import io

    import polars as pl

    data = _checked_bytes(path, manifest)
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError) as error:
        raise ArtifactError(f"{path}: not a readable Parquet file ({error})") from None
    missing = [column for column in ("id", *_ITEM_COLUMNS) if column not in frame.columns]
    if missing:
        raise ArtifactError(f"{path}: missing column(s) {missing}")
    if frame["id"].to_list() != list(range(frame.height)):
        raise ArtifactError(f"{path}: the ids must run 0..{frame.height - 1} in order")

    def strings(column: str) -> np.ndarray:
        return np.array(frame[column].cast(pl.String).fill_null("").to_list(), dtype=object)

    attributes = {
        column[len(ATTRIBUTE_PREFIX) :]: _column_array(frame[column]) for column in frame.columns if column.startswith(ATTRIBUTE_PREFIX)
    }
    labels, titles, categories, texts = (strings(column) for column in _ITEM_COLUMNS)
    return ItemInfo(labels, titles, categories, texts, attributes)


def _column_array(column: Any) -> np.ndarray:
    import polars as pl

    if column.dtype == pl.String:
        return np.array(column.to_list(), dtype=object)
    return column.to_numpy()


# -- writing ------------------------------------------------------------------------------------
def _write_items(path: Path, items: ItemInfo) -> None:
    import polars as pl

    columns: dict[str, Any] = {"id": pl.Series("id", np.arange(items.n_items + 1, dtype=np.int64))}
    for name, values in zip(_ITEM_COLUMNS, (items.labels, items.titles, items.categories, items.texts)):
        columns[name] = pl.Series(name, [str(value) for value in values], dtype=pl.String)
    for name, values in items.attributes.items():
        array = np.asarray(values)
        column = f"{ATTRIBUTE_PREFIX}{name}"
        columns[column] = pl.Series(column, array) if array.dtype.kind in "biuf" else pl.Series(column, [str(v) for v in array], dtype=pl.String)
    pl.DataFrame(columns).write_parquet(path)
    _sync(path)


def _write(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _file_record(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _replace(staging: Path, target: Path) -> None:
    """Rename the fully written ``staging`` folder to ``target``; an old artifact there is moved
    aside first and removed once the new one is in place."""
    if not target.exists():
        os.replace(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, old / target.name)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old / target.name, target)  # put the old artifact back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _holds_artifact(folder: Path) -> bool:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _seqrec_version() -> str:
    from seqrec import __version__

    return __version__


def _plain_config(model: Recommender[Any]) -> dict[str, Any]:
    """The model's config as the manifest holds it (JSON: tuples become lists)."""
    return dict(json.loads(json.dumps(dataclasses.asdict(model.config), default=json_default)))

