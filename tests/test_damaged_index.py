"""A damaged index folder, and reads that must not write.

Each kind of damage is checked twice through the real command line (with the bundled model
swapped for the hash embedder the index was built with): every command but ``index --rebuild``
fails with one line that names ``--rebuild`` and leaves every file as it was; ``index --rebuild``
moves the damaged files into ``damaged-<time>/``, builds a fresh index and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import faiss
import pytest

from askarchive import Archive
from askarchive.errors import StoreCorrupt
from askarchive.store.folder import POINTER
from askarchive.store.sqlite import Store
from tests.fakes import HashEmbedder
from tests.helpers import make_archive, write_article

ROOT = Path(__file__).resolve().parent.parent
CLI = """
import sys
import askarchive.archive as a
from tests.fakes import HashEmbedder
a.SentenceTransformerEmbedder = lambda model=None, **kw: HashEmbedder()
from askarchive.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
# Several commands in one process (start-up is most of a command's time): each gets its own
# stdout and stderr, and an exception that escapes ``main`` is printed as the traceback it is.
MANY = """
import contextlib, io, json, sys, traceback
import askarchive.archive as a
from tests.fakes import HashEmbedder
a.SentenceTransformerEmbedder = lambda model=None, **kw: HashEmbedder()
from askarchive.cli.main import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except BaseException:
            traceback.print_exc()
            rc = -1
    results.append([rc, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""
N_ARTICLES = 4
READ_ONLY = [
    ("stats",),
    ("search", "oil prices"),
    ("ask", "Where did oil prices fall?", "--no-llm"),
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASKARCHIVE_")}
    env.update(COLUMNS="200")
    return env


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=120,
    )


def run_many(*argvs: tuple[str | Path, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Run each command line through ``main`` in one fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", MANY, json.dumps([[str(a) for a in argv] for argv in argvs])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [
        subprocess.CompletedProcess(list(map(str, argv)), rc, out, err)
        for argv, (rc, out, err) in zip(argvs, json.loads(proc.stdout), strict=True)
    ]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("askarchive: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path, folders: bool = True) -> dict[str, tuple[object, ...]]:
    """Every path under ``folder`` with its kind, size, mtime and content hash (the mtime of
    folders, which changes when a file is made and removed again, only with ``folders``)."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_symlink():
                out[str(path.relative_to(folder))] = ("link", os.readlink(path))
            elif path.is_dir():
                out[str(path.relative_to(folder))] = ("dir", st.st_mtime_ns if folders else 0)
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[str(path.relative_to(folder))] = ("file", st.st_size, st.st_mtime_ns, digest)
    return out


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    """(archive folder, index folder) holding a cleanly closed index of N_ARTICLES articles."""
    arch = tmp_path / "arch"
    make_archive(arch, n=N_ARTICLES)
    with Archive.open(tmp_path / "idx", embedder=HashEmbedder()) as archive:
        archive.index([arch])
    return arch, tmp_path / "idx"


def live_db(idx: Path) -> Path:
    return idx / (idx / POINTER).read_text(encoding="ascii").strip()


# -- the kinds of damage: each returns the bytes of the file it damaged (to find it moved) -------
def garbage_pointer(idx: Path) -> bytes | None:
    (idx / POINTER).write_bytes(b"\xff\xfe\x00" + os.urandom(61))
    return None


def empty_pointer(idx: Path) -> bytes | None:
    (idx / POINTER).write_bytes(b"")
    return None


def dangling_pointer(idx: Path) -> bytes | None:
    (idx / POINTER).write_text("store-0123456789abcdef0123456789abcdef.sqlite\n", "ascii")
    return None


def pointer_to_folder(idx: Path) -> bytes | None:
    (idx / POINTER).unlink()
    (idx / POINTER).mkdir()
    return None


def relative_pointer_outside(idx: Path) -> bytes | None:
    (idx.parent / "outside.sqlite").write_bytes(b"")
    (idx / POINTER).write_text("../outside.sqlite\n", "ascii")
    return None


def absolute_pointer_outside(idx: Path) -> bytes | None:
    (idx.parent / "outside.sqlite").write_bytes(b"")
    (idx / POINTER).write_text(f"{idx.parent / 'outside.sqlite'}\n", "utf-8")
    return None


def database_linked_outside(idx: Path) -> bytes | None:
    db = live_db(idx)
    db.unlink()
    (idx.parent / "outside.sqlite").write_bytes(b"")
    db.symlink_to(idx.parent / "outside.sqlite")
    return None


def truncated_database(idx: Path) -> bytes:
    db = live_db(idx)
    with open(db, "r+b") as fh:
        fh.truncate(3 * 4096)
    return db.read_bytes()


def truncated_mid_page(idx: Path) -> bytes:
    db = live_db(idx)
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 2 + 100)
    return db.read_bytes()


def empty_database(idx: Path) -> bytes:
    live_db(idx).write_bytes(b"")
    return b""


def not_a_database(idx: Path) -> bytes:
    data = b"this is not a database\n" * 400
    live_db(idx).write_bytes(data)
    return data


def corrupt_table_pages(idx: Path) -> bytes:
    """A valid header and schema, but the articles and chunks tables are garbage."""
    db = live_db(idx)
    con = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    roots = dict(con.execute("SELECT name, rootpage FROM sqlite_master").fetchall())
    con.close()
    with open(db, "r+b") as fh:
        for table in ("articles", "chunks", "chunks_fts_data"):
            fh.seek((roots[table] - 1) * page)
            fh.write(b"\xa5" * page)
    return db.read_bytes()


DAMAGE: list[Callable[[Path], bytes | None]] = [
    garbage_pointer,
    empty_pointer,
    dangling_pointer,
    pointer_to_folder,
    relative_pointer_outside,
    absolute_pointer_outside,
    database_linked_outside,
    truncated_database,
    truncated_mid_page,
    empty_database,
    not_a_database,
    corrupt_table_pages,
]


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__ for d in DAMAGE])
def test_damaged_index_is_refused_then_rebuilt(
    tmp_path: Path,
    built: tuple[Path, Path],
    damage: Callable[[Path], bytes | None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arch, idx = built
    old_db = live_db(idx).name
    damaged_bytes = damage(idx)
    pointer_bytes = (idx / POINTER).read_bytes() if (idx / POINTER).is_file() else None

    # (a) Every other command: one line naming --rebuild, and not one file touched (the
    # outside file a bad CURRENT names included: it must not become a database).
    before = snapshot(tmp_path)
    results = run_many(*[(*a, "--index", idx) for a in READ_ONLY])
    for args, proc in zip(READ_ONLY, results, strict=True):
        if damage is corrupt_table_pages and args == ("stats",):
            # Counts come from intact indexes: stats cannot see the damage, and need not.
            assert proc.returncode == 0, proc.stderr
        else:
            assert_one_line_error(proc, "--rebuild", str(idx))
    assert snapshot(tmp_path) == before
    # A plain `index` is refused too (a writer may make and remove SQLite's -wal on the way).
    # In this process, to save a start-up: an escaping exception would fail the test.
    import askarchive.archive
    from askarchive.cli.main import main

    monkeypatch.setattr(
        askarchive.archive, "SentenceTransformerEmbedder", lambda model=None, **kw: HashEmbedder()
    )
    files = snapshot(tmp_path, folders=False)
    capsys.readouterr()
    rc = main(["index", str(arch), "--index", str(idx)])
    err = capsys.readouterr().err
    assert_one_line_error(subprocess.CompletedProcess([], rc, "", err), "--rebuild", str(idx))
    if damage is not corrupt_table_pages:  # there the writer opens, and SQLite leaves its -wal
        assert snapshot(tmp_path, folders=False) == files

    # The chat opens the archive the same way (read-only until it indexes).
    from askarchive.tui.backend import ChatBackend

    chat = ChatBackend(lambda create: Archive.open(idx, embedder=HashEmbedder(), create=create))
    if damage is not corrupt_table_pages:  # found by the first read of those pages, not on open
        with pytest.raises(StoreCorrupt, match="--rebuild"):
            chat.archive()
        assert snapshot(tmp_path, folders=False) == files

    # (b) --rebuild moves the damaged files aside, builds a fresh index and says so.
    proc, stats, found = run_many(
        ("index", arch, "--rebuild", "--json", "--index", idx),
        ("stats", "--json", "--index", idx),
        ("search", "oil prices", "--json", "--index", idx),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["added"] == N_ARTICLES
    aside = sorted(idx.glob("damaged-*"))
    assert len(aside) == 1 and aside[0].is_dir()
    said = [w["reason"] for w in report["warnings"] if "moved its files to" in w["reason"]]
    assert len(said) == 1 and str(aside[0]) in said[0] and "built a fresh one" in said[0]
    assert os.path.lexists(aside[0] / old_db)  # the old database is kept, never deleted
    if pointer_bytes is not None:
        assert (aside[0] / POINTER).read_bytes() == pointer_bytes
    if damaged_bytes is not None:
        assert (aside[0] / old_db).read_bytes() == damaged_bytes
    outside = tmp_path / "outside.sqlite"
    assert not outside.exists() or outside.read_bytes() == b""

    assert live_db(idx).name != old_db
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["articles"] == N_ARTICLES
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)


def faiss_file(idx: Path) -> Path:
    files = sorted(idx.glob("store-*.hnsw.faiss"))
    assert len(files) == 1, files
    return files[0]


@pytest.mark.parametrize("kind", ["garbage", "empty", "truncated"])
def test_damaged_faiss_file_is_replaced_on_disk(built: tuple[Path, Path], kind: str) -> None:
    """The FAISS file is derived data: readers rebuild it in memory (and write nothing); the
    next `index` run replaces it on disk, atomically, with a readable one."""
    arch, idx = built
    path = faiss_file(idx)
    good = path.read_bytes()
    bad = {"garbage": os.urandom(5000), "empty": b"", "truncated": good[: len(good) - 100]}[kind]
    path.write_bytes(bad)

    before = snapshot(idx)
    for args in READ_ONLY:
        proc = run(*args, "--index", idx)
        assert proc.returncode == 0, proc.stderr
    assert snapshot(idx) == before

    proc = run("index", arch, "--index", idx)  # nothing changed in the archive
    assert proc.returncode == 0, proc.stderr
    assert faiss_file(idx) == path
    assert faiss.read_index(str(path)).ntotal > 0
    assert not list(idx.glob("*.tmp"))
    with Archive.open(idx, embedder=HashEmbedder(), create=False) as archive:
        assert archive._store.faiss.load(archive._store.generation) is not None
        assert archive.search("oil prices", k=2)


def test_stale_faiss_file_is_replaced_by_the_current_generation(
    built: tuple[Path, Path],
) -> None:
    arch, idx = built
    old = faiss_file(idx)
    saved = old.read_bytes()
    write_article(arch, "zebra.txt", "Zebras cross the Mara river", "Thousands of zebras crossed.")
    with Archive.open(idx, embedder=HashEmbedder()) as archive:
        archive.index([arch])
    new = faiss_file(idx)
    assert new != old
    new.unlink()
    old.write_bytes(saved)  # as if killed after the commit, before the save

    before = snapshot(idx)
    proc = run("search", "zebras Mara river", "--json", "--index", idx)
    assert proc.returncode == 0, proc.stderr
    assert "Zebras cross" in json.loads(proc.stdout)[0]["citation"]["title"]
    assert snapshot(idx) == before  # brought up to date in memory only

    assert run("index", arch, "--index", idx).returncode == 0
    assert faiss_file(idx) == new and not old.exists()


# -- read-only opens ------------------------------------------------------------------------------
def test_read_only_commands_open_the_database_read_only(built: tuple[Path, Path]) -> None:
    _, idx = built
    before = snapshot(idx)
    for args in READ_ONLY:
        proc = run(*args, "--index", idx)
        assert proc.returncode == 0, proc.stderr
    assert snapshot(idx) == before
    assert not list(idx.glob("*-wal")) and not list(idx.glob("*-shm"))
    with Archive.open(idx, embedder=HashEmbedder(), create=False) as archive:
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
            archive._store.con.execute("CREATE TABLE intruder (x)")
        assert archive.search("oil prices")
    assert snapshot(idx) == before


def test_read_only_commands_with_a_writer_active(built: tuple[Path, Path]) -> None:
    """A writer's connection is open and its last commit is still in the WAL: readers see it,
    and change neither the database nor the WAL."""
    arch, idx = built
    writer = Archive.open(idx, embedder=HashEmbedder())  # its own connection stays open
    try:
        write_article(arch, "zebra.txt", "Zebras cross the Mara river", "Thousands crossed.")
        writer.index([arch])
        db = live_db(idx)
        wal = db.with_name(db.name + "-wal")
        assert wal.exists() and wal.stat().st_size > 0
        before = {p: snapshot(idx)[p] for p in (db.name, wal.name)}
        stats = run("stats", "--json", "--index", idx)
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["articles"] == N_ARTICLES + 1
        found = run("search", "zebras Mara river", "--json", "--index", idx)
        assert found.returncode == 0, found.stderr
        assert "Zebras cross" in json.loads(found.stdout)[0]["citation"]["title"]
        assert {p: snapshot(idx)[p] for p in (db.name, wal.name)} == before
    finally:
        writer.close()


def test_read_only_view_follows_a_writer_that_starts_later(built: tuple[Path, Path]) -> None:
    """A reader opened on a cleanly closed index reads it ``immutable``; once a writer starts,
    the next question moves it onto the writer's WAL, so it sees new commits."""
    arch, idx = built
    with Archive.open(idx, embedder=HashEmbedder(), create=False) as reader:
        assert reader._store._immutable
        assert reader.search("oil prices")
        write_article(arch, "zebra.txt", "Zebras cross the Mara river", "Thousands crossed.")
        with Archive.open(idx, embedder=HashEmbedder()) as writer:
            writer.index([arch])
            hits = reader.search("zebras Mara river", k=1)
            assert hits[0].citation.title.startswith("Zebras cross")
        # The reader's own (chat) re-index moves it too.
        write_article(arch, "yak.txt", "Yaks graze the Tibetan plateau", "Herders moved yaks.")
        reader.index([arch])
        assert reader.search("yaks Tibetan plateau", k=1)[0].citation.title.startswith("Yaks")


def test_read_only_commands_after_a_killed_writer(tmp_path: Path) -> None:
    """kill -9 leaves the WAL behind: a read-only command reads the committed part from it
    without changing the database or the WAL."""
    from tests.test_crash import _run_until

    make_archive(tmp_path / "arch", n=30, sentences=14)
    idx = tmp_path / "idx"
    _run_until(idx, tmp_path / "arch", 0.5, signal.SIGKILL)
    db = live_db(idx)
    wal = db.with_name(db.name + "-wal")
    assert wal.exists()
    before = {p: v for p, v in snapshot(idx).items() if not p.endswith("-shm")}
    proc = run("stats", "--json", "--index", idx)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["articles"] > 0
    assert {p: v for p, v in snapshot(idx).items() if not p.endswith("-shm")} == before


def test_rebuild_switches_the_model(tmp_path: Path) -> None:
    """The mismatch message names --rebuild; --rebuild must then not refuse the old model."""
    arch = tmp_path / "arch"
    make_archive(arch, n=2)
    with Archive.open(tmp_path / "idx", embedder=HashEmbedder(name="other-model")) as archive:
        archive.index([arch])
    assert_one_line_error(run("stats", "--index", tmp_path / "idx"), "--rebuild")
    proc = run("index", arch, "--rebuild", "--index", tmp_path / "idx")
    assert proc.returncode == 0, proc.stderr
    assert not list((tmp_path / "idx").glob("damaged-*"))  # nothing was damaged
    stats = run("stats", "--json", "--index", tmp_path / "idx")
    assert json.loads(stats.stdout)["model"] == "hash-test"


def test_rebuild_interrupted_keeps_the_damaged_index_in_place(built: tuple[Path, Path]) -> None:
    """Half a rebuild is not an index: nothing is moved until the fresh one is complete."""
    import threading

    arch, idx = built
    empty_pointer(idx)
    before = snapshot(idx)
    cancel = threading.Event()
    cancel.set()
    with Archive.open(idx, embedder=HashEmbedder(), rebuild=True) as archive:
        report = archive.index([arch], rebuild=True, cancel=cancel)
    assert report.interrupted
    assert snapshot(idx) == before
    assert Store.damage(idx) is not None
