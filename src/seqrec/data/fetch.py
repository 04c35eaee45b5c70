"""Fetch public datasets into the local cache, verified and atomically.

``fetch("ml-100k")`` downloads the GroupLens archive, checks it against the MD5 GroupLens
publishes beside it (``ml-100k.zip.md5``), and unzips it into ``<cache>/raw/ml-100k/``. When
that fails (no network, a firewall, a changed file), it falls back to the copy of ML-100K that
RecBole ships inside its wheel on PyPI (``recbole/dataset_example/ml-100k/ml-100k.inter`` and
``.item``, RecBole's "atomic" conversion of ``u.data``/``u.item``: the same 100,000 ratings in
the same order). The wheel is fetched with ``pip download`` (PyPI is reachable where GroupLens
may not be), checked against its pinned SHA-256, and only the two data files are taken from it.

Everything is written into a temporary sibling first and moved into place with ``os.replace``,
so an interrupted fetch never leaves a half-extracted dataset that a later run would trust.
What happened is told through ``report`` (a callable taking one line of text).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seqrec.data.errors import FetchError
from seqrec.data.loaders import detect_movielens

Reporter = Callable[[str], None]
_log = logging.getLogger("seqrec.data")

RECBOLE_VERSION = "1.2.1"
RECBOLE_WHEEL = f"recbole-{RECBOLE_VERSION}-py3-none-any.whl"
# From the PyPI simple index (https://pypi.org/simple/recbole/, the #sha256= of this wheel).
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"


@dataclass(frozen=True)
class Source:
    """One downloadable dataset: the archive, its published MD5, and where else to find it."""

    name: str
    url: str
    md5: str
    recbole_members: Mapping[str, str] | None = None
    """Wheel member -> file name, for datasets RecBole's wheel carries (the fallback)."""


_GROUPLENS = "https://files.grouplens.org/datasets/movielens"
# MD5s as GroupLens publishes them in <archive>.zip.md5 beside each archive.
SOURCES: dict[str, Source] = {
    "ml-100k": Source(
        "ml-100k",
        f"{_GROUPLENS}/ml-100k.zip",
        "0e33842e24a9c977be4e0107933c0723",
        recbole_members={
            "recbole/dataset_example/ml-100k/ml-100k.inter": "ml-100k.inter",
            "recbole/dataset_example/ml-100k/ml-100k.item": "ml-100k.item",
        },
    ),
    "ml-1m": Source("ml-1m", f"{_GROUPLENS}/ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906"),
    "ml-10m": Source("ml-10m", f"{_GROUPLENS}/ml-10m.zip", "ce571fd55effeba0271552578f2648bd"),
    "ml-20m": Source("ml-20m", f"{_GROUPLENS}/ml-20m.zip", "cd245b17a1ae2cc31bb14903e1204af3"),
    "ml-25m": Source("ml-25m", f"{_GROUPLENS}/ml-25m.zip", "6b51fb2759a8657d3bfcbfc42b592ada"),
}


def default_cache_dir() -> Path:
    """``$SEQREC_CACHE`` if set, else ``~/.cache/seqrec``."""
    configured = os.environ.get("SEQREC_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "seqrec"


def fetch(
    name: str = "ml-100k", cache_dir: str | Path | None = None, report: Reporter | None = None
) -> Path:
    """The directory holding dataset ``name``'s files, downloading it first if needed.

    Returns ``<cache>/raw/<name>/...`` (the folder with ``u.data`` etc.) for the GroupLens
    copy or ``<cache>/raw/<name>-recbole-1.2.1/`` (``.inter``/``.item``) for the fallback; an
    existing copy is reused (GroupLens preferred). Raises :class:`FetchError` when neither works.
    """
    say = report or _log.info
    source = _source(name)
    raw_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    raw_root = raw_root / "raw"
    existing = find_fetched(name, raw_root.parent)
    if existing is not None:
        return existing
    try:
        folder = _fetch_grouplens(source, raw_root)
    except FetchError as error:
        if source.recbole_members is None:
            raise FetchError(f"could not fetch {name}: {error}") from error
        try:
            folder = _fetch_from_recbole_wheel(source, raw_root)
        except FetchError as fallback_error:
            raise FetchError(
                f"could not fetch {name}: GroupLens download failed ({error}); "
                f"the RecBole {RECBOLE_VERSION} wheel fallback failed too ({fallback_error})"
            ) from fallback_error
        say(
            f"GroupLens download failed ({error}); used the copy shipped in RecBole {RECBOLE_VERSION}'s wheel"
        )
        return folder
    say(f"downloaded {source.url} (MD5 verified) into {folder}")
    return folder


def find_fetched(name: str, cache_dir: str | Path | None = None) -> Path | None:
    """The folder of an already fetched copy of ``name`` (GroupLens preferred), or ``None``."""
    source = _source(name)
    raw_root = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "raw"
    detected = detect_movielens(raw_root / source.name)
    if detected is not None:
        return detected[1]
    recbole_folder = raw_root / _recbole_folder_name(source)
    if source.recbole_members and all(
        (recbole_folder / f).is_file() for f in source.recbole_members.values()
    ):
        return recbole_folder
    return None


def _source(name: str) -> Source:
    if name not in SOURCES:
        raise FetchError(f"unknown dataset {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[name]


def _recbole_folder_name(source: Source) -> str:
    return f"{source.name}-recbole-{RECBOLE_VERSION}"


# ---------------------------------------------------------------------------------------------
# GroupLens
# ---------------------------------------------------------------------------------------------
def _fetch_grouplens(source: Source, raw_root: Path) -> Path:
    raw_root.mkdir(parents=True, exist_ok=True)
    archive = raw_root / f".{source.name}.zip.part-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        try:
            _download_url(source.url, archive)
        except (OSError, ValueError) as error:  # URLError, HTTPError and timeouts are OSErrors
            raise FetchError(f"{source.url}: {error}") from error
        verify_checksum(archive, source.md5, "md5")
        destination = raw_root / source.name
        extract_zip(archive, destination)
    finally:
        archive.unlink(missing_ok=True)
    detected = detect_movielens(destination)
    if detected is None:
        shutil.rmtree(destination, ignore_errors=True)
        raise FetchError(f"{source.url}: the archive holds no MovieLens files")
    return detected[1]


def _download_url(url: str, destination: Path, timeout: float = 60.0) -> None:
    """Stream ``url`` into ``destination`` (tests replace this function)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(destination, "wb") as out:
        shutil.copyfileobj(response, out, length=2**20)


def verify_checksum(path: Path, expected: str, algorithm: str = "md5") -> None:
    """Raise :class:`FetchError` unless ``path``'s ``algorithm`` digest is ``expected``."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    if digest.hexdigest() != expected.lower():
        raise FetchError(
            f"{path.name}: {algorithm.upper()} is {digest.hexdigest()}, expected {expected}"
        )


def extract_zip(archive: Path, destination: Path) -> None:
    """Unzip ``archive`` into ``destination`` atomically (staging folder + ``os.replace``).

    Member names that would escape ``destination`` (absolute, ``..``) are refused.
    """
    try:
        with zipfile.ZipFile(archive) as bundle:
            names = bundle.namelist()
            for member in names:
                _check_member_name(archive, member)
            with _staging(destination) as staging:
                bundle.extractall(staging)
                _publish(staging, destination)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        raise FetchError(f"{archive.name}: not a valid zip archive ({error})") from error


def _check_member_name(archive: Path, member: str) -> None:
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if member.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise FetchError(f"{archive.name}: refusing member {member!r} outside the target folder")


# ---------------------------------------------------------------------------------------------
# RecBole wheel fallback
# ---------------------------------------------------------------------------------------------
def _fetch_from_recbole_wheel(source: Source, raw_root: Path) -> Path:
    if source.recbole_members is None:
        raise FetchError(f"RecBole's wheel does not carry {source.name}")
    raw_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=raw_root, prefix=".pip-") as download_dir:
        wheel = _pip_download_wheel(f"recbole=={RECBOLE_VERSION}", Path(download_dir))
        verify_checksum(wheel, RECBOLE_WHEEL_SHA256, "sha256")
        destination = raw_root / _recbole_folder_name(source)
        extract_wheel_members(wheel, source.recbole_members, destination)
    return destination


def _pip_download_wheel(requirement: str, directory: Path) -> Path:
    """``pip download`` one wheel (no dependencies) into ``directory`` (tests replace this)."""
    command = [
        sys.executable, "-m", "pip", "download", requirement, "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "-d", str(directory),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FetchError(f"pip download {requirement}: {error}") from error
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise FetchError(f"pip download {requirement} failed: {last}")
    wheels = sorted(directory.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"pip download {requirement} left {len(wheels)} wheels, expected 1")
    return wheels[0]


def extract_wheel_members(wheel: Path, members: Mapping[str, str], destination: Path) -> None:
    """Copy ``members`` (wheel path -> file name) out of ``wheel`` into ``destination``, atomically."""
    try:
        with zipfile.ZipFile(wheel) as bundle:
            present = set(bundle.namelist())
            missing = [m for m in members if m not in present]
            if missing:
                raise FetchError(f"{wheel.name} lacks {', '.join(missing)}")
            with _staging(destination) as staging:
                for member, file_name in members.items():
                    with bundle.open(member) as data, open(staging / file_name, "wb") as out:
                        shutil.copyfileobj(data, out)
                    if (staging / file_name).stat().st_size == 0:
                        raise FetchError(f"{wheel.name}: {member} is empty")
                _publish(staging, destination)
    except (zipfile.BadZipFile, EOFError) as error:
        raise FetchError(f"{wheel.name}: not a valid wheel ({error})") from error


# ---------------------------------------------------------------------------------------------
# Atomic publication
# ---------------------------------------------------------------------------------------------
@contextmanager
def _staging(destination: Path) -> Iterator[Path]:
    """A temporary sibling folder of ``destination``, removed on exit whatever happened."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    path = destination.parent / f".{destination.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _publish(staging: Path, destination: Path) -> None:
    """Move the finished ``staging`` folder to ``destination`` in one step.

    A leftover ``destination`` from an older, unusable fetch is removed first; if another
    process published the same folder meanwhile, its copy is kept.
    """
    if destination.exists():
        shutil.rmtree(destination)
    try:
        os.replace(staging, destination)
    except OSError:
        if not destination.exists():
            raise
