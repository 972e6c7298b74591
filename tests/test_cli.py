"""The command line: every user error is one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from askarchive import Archive
from tests.fakes import HashEmbedder
from tests.helpers import make_archive


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "askarchive.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("askarchive: error: ")
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def empty_store(tmp_path: Path) -> Path:
    Archive.open(tmp_path / "idx").close()  # real model name in the manifest-to-be; no articles
    return tmp_path / "idx"


def test_missing_index(tmp_path: Path) -> None:
    assert_one_line_error(
        run("search", "oil", "--index", str(tmp_path / "nope")), "askarchive index"
    )
    assert_one_line_error(run("stats", "--index", str(tmp_path / "nope")), "askarchive index")


def test_missing_archive_path(tmp_path: Path) -> None:
    proc = run("index", str(tmp_path / "no-such-folder"), "--index", str(tmp_path / "idx"))
    assert_one_line_error(proc, "no such file or folder")


def test_empty_store_says_how_to_index(empty_store: Path) -> None:
    assert_one_line_error(
        run("search", "oil", "--index", str(empty_store)), "empty", "askarchive index"
    )
    assert_one_line_error(run("ask", "oil?", "--index", str(empty_store)), "empty")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("search", "   "), "query is empty"),
        (("search", "oil", "-k", "0"), "k must be at least 1"),
        (("search", "oil", "--since", "June"), "bad date"),
        (("search", "oil", "--since", "2016", "--until", "2015"), "swap"),
        (("ask", ""), "question is empty"),
    ],
)
def test_bad_arguments(empty_store: Path, args: tuple[str, ...], needle: str) -> None:
    assert_one_line_error(run(*args, "--index", str(empty_store)), needle)


def test_wrong_model_for_index(tmp_path: Path) -> None:
    make_archive(tmp_path / "arch", n=2)
    with Archive.open(tmp_path / "idx", embedder=HashEmbedder()) as archive:
        archive.index([tmp_path / "arch"])
    proc = run("search", "oil", "--index", str(tmp_path / "idx"))
    assert_one_line_error(proc, "hash-test", "--rebuild")


def test_corrupt_index(tmp_path: Path) -> None:
    make_archive(tmp_path / "arch", n=2)
    with Archive.open(tmp_path / "idx", embedder=HashEmbedder()) as archive:
        archive.index([tmp_path / "arch"])
    for db in (tmp_path / "idx").glob("store-*.sqlite"):
        db.write_bytes(b"this is not a database" * 100)
    for extra in (tmp_path / "idx").glob("store-*.sqlite-*"):
        extra.unlink()
    assert_one_line_error(run("stats", "--index", str(tmp_path / "idx")), "--rebuild")


def test_index_file_instead_of_folder(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    assert_one_line_error(run("stats", "--index", str(f)), "not a folder")


def test_env_var_selects_the_index(tmp_path: Path) -> None:
    make_archive(tmp_path / "arch", n=3)
    with Archive.open(tmp_path / "idx", embedder=HashEmbedder()) as archive:
        archive.index([tmp_path / "arch"])
    # stats reads the manifest only: the hash model name is reported, not checked against it
    proc = subprocess.run(
        [sys.executable, "-m", "askarchive.cli.main", "stats", "--json"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "ASKARCHIVE_INDEX": str(tmp_path / "idx")},
    )
    assert proc.returncode != 0  # a hash-built store is the wrong model for the CLI
    assert "hash-test" in proc.stderr


def test_index_folder_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run("index", str(tmp_path), "--index", str(blocker / "idx"))
    assert_one_line_error(proc, "cannot create the index folder", "--index")
