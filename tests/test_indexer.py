from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from pathlib import Path

import pytest

import askarchive.index.indexer as indexer
from askarchive import Archive
from askarchive.errors import NothingIndexed, StoreBusy, StoreMismatch
from tests.fakes import HashEmbedder, SlowHashEmbedder
from tests.helpers import assert_consistent, make_archive, write_article


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    make_archive(tmp_path / "arch")
    return tmp_path / "arch"


def _open(tmp_path: Path, emb: HashEmbedder | None = None) -> Archive:
    return Archive.open(tmp_path / "idx", embedder=emb or HashEmbedder())


def test_first_index_then_nothing_to_do(tmp_path: Path, archive_dir: Path) -> None:
    emb = HashEmbedder()
    with _open(tmp_path, emb) as archive:
        report = archive.index([archive_dir])
        assert (report.added, report.updated, report.removed, report.unchanged) == (6, 0, 0, 0)
        assert report.chunks == emb.encoded > 0
        stats = archive.stats()
        assert stats.articles == 6 and stats.chunks == report.chunks
        assert stats.model == "hash-test" and stats.bytes > 0
        assert_consistent(archive._store)

        before = emb.encoded
        again = archive.index([archive_dir])
        assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 6)
        assert again.chunks == 0 and emb.encoded == before


def test_add_edit_remove_touch_only_cost_what_changed(tmp_path: Path, archive_dir: Path) -> None:
    emb = HashEmbedder()
    with _open(tmp_path, emb) as archive:
        archive.index([archive_dir])
        write_article(archive_dir, "new.txt", "A brand new story", "Only this one is new. " * 5)
        before = emb.encoded
        report = archive.index([archive_dir])
        assert (report.added, report.unchanged) == (1, 6)
        assert emb.encoded - before == report.chunks > 0

        edited = archive_dir / "article_002.txt"
        edited.write_text("Edited title\n\nThe body changed completely.\n", encoding="utf-8")
        report = archive.index([archive_dir])
        assert (report.added, report.updated, report.unchanged) == (0, 1, 6)

        (archive_dir / "article_003.txt").unlink()
        report = archive.index([archive_dir])
        assert (report.removed, report.unchanged, report.chunks) == (1, 6, 0)

        # A touch changes mtime but not content: re-read, nothing embedded.
        t = archive_dir / "article_004.txt"
        os.utime(t, ns=(t.stat().st_atime_ns, t.stat().st_mtime_ns + 10**9))
        before = emb.encoded
        report = archive.index([archive_dir])
        assert report.unchanged == 6 and emb.encoded == before
        assert archive.stats().articles == 6
        assert_consistent(archive._store)
        titles = {archive.article(p.article_id).title for p in archive.search("body changed", k=3)}
        assert "Edited title" in titles


def test_index_survives_reopen_and_faiss_loss(tmp_path: Path, archive_dir: Path) -> None:
    with _open(tmp_path) as archive:
        archive.index([archive_dir])
        n = archive.stats().chunks
    for f in (tmp_path / "idx").glob("*.faiss"):
        f.unlink()  # FAISS is derived data: it must come back from SQLite
    with _open(tmp_path) as archive:
        assert archive.stats().chunks == n
        assert_consistent(archive._store)
        assert archive.search("ceasefire Geneva", k=2)


def test_other_roots_are_left_alone(tmp_path: Path, archive_dir: Path) -> None:
    other = tmp_path / "other"
    make_archive(other, n=2)
    with _open(tmp_path) as archive:
        archive.index([archive_dir])
        report = archive.index([other])
        assert report.added == 2 and report.removed == 0
        assert archive.stats().articles == 8


def test_rebuild_starts_over_and_swaps_atomically(tmp_path: Path, archive_dir: Path) -> None:
    emb = HashEmbedder()
    with _open(tmp_path, emb) as archive:
        archive.index([archive_dir])
        old = sorted(p.name for p in (tmp_path / "idx").glob("store-*.sqlite"))
        report = archive.index([archive_dir], rebuild=True)
        assert report.added == 6
        new = sorted(p.name for p in (tmp_path / "idx").glob("store-*.sqlite"))
        assert len(new) == 1 and new != old
        assert_consistent(archive._store)
    with _open(tmp_path) as archive:
        assert archive.stats().articles == 6


def test_model_and_settings_mismatch(tmp_path: Path, archive_dir: Path) -> None:
    with _open(tmp_path) as archive:
        archive.index([archive_dir])
    with pytest.raises(StoreMismatch, match="--rebuild"):
        Archive.open(tmp_path / "idx", embedder=HashEmbedder(name="other-model"))
    with pytest.raises(StoreMismatch, match="chunk_tokens"):
        Archive.open(tmp_path / "idx", embedder=HashEmbedder(), chunk_tokens=99)
    with pytest.raises(StoreMismatch, match="dims"):
        Archive.open(tmp_path / "idx", embedder=HashEmbedder(dim=32))


def test_second_writer_is_refused(tmp_path: Path, archive_dir: Path) -> None:
    with _open(tmp_path) as first, _open(tmp_path) as second:
        first._store.lock()
        try:
            with pytest.raises(StoreBusy, match="another `askarchive index`"):
                second.index([archive_dir])
        finally:
            first._store.unlock()
        assert second.index([archive_dir]).added == 6


def test_bad_files_are_reported_and_the_rest_indexed(tmp_path: Path, archive_dir: Path) -> None:
    (archive_dir / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (archive_dir / "empty.txt").write_text("", encoding="utf-8")
    (archive_dir / "notes.docx").write_bytes(b"PK")
    with _open(tmp_path) as archive:
        report = archive.index([archive_dir])
    assert report.added == 6
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"blob.txt", "empty.txt", "notes.docx"}
    assert "binary" in reasons["blob.txt"] and "empty" in reasons["empty.txt"]
    assert "unsupported" in reasons["notes.docx"]


def test_nothing_indexable_is_an_error_with_the_report(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.txt").write_bytes(b"\x00\x00")
    with _open(tmp_path) as archive, pytest.raises(NothingIndexed) as info:
        archive.index([bad])
    assert len(info.value.report.skipped) == 1  # type: ignore[attr-defined]


def test_searching_while_another_thread_indexes(tmp_path: Path, archive_dir: Path) -> None:
    """The chat's situation: re-index in a worker while questions keep coming."""
    import threading

    import askarchive.index.indexer as indexer

    emb = SlowHashEmbedder(delay=0.01)
    archive = Archive.open(tmp_path / "idx", embedder=emb)
    archive.index([archive_dir])
    make_archive(tmp_path / "more", n=12, sentences=14)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            archive.index([tmp_path / "more"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    old = indexer.COMMIT_CHUNKS
    indexer.COMMIT_CHUNKS = 8  # many commits, so searches land between them
    try:
        t = threading.Thread(target=work)
        t.start()
        searches = 0
        while t.is_alive() or searches == 0:
            for p in archive.search("ceasefire talks Geneva", k=5):
                assert (
                    archive.article(p.article_id).body[p.citation.start : p.citation.end] == p.text
                )
            searches += 1
        t.join()
    finally:
        indexer.COMMIT_CHUNKS = old
    assert not errors and searches > 1
    assert archive.stats().articles == 18
    assert_consistent(archive._store)
    found = {archive.article(p.article_id).path for p in archive.search("ceasefire Geneva", k=10)}
    assert any("/more/" in path for path in found), "new articles are searchable afterwards"


def test_asking_during_the_first_index_says_to_wait(tmp_path: Path) -> None:
    from askarchive.errors import StoreEmpty

    with _open(tmp_path) as reader, _open(tmp_path) as writer:
        writer._store.lock()  # what a running `askarchive index` holds
        try:
            with pytest.raises(StoreEmpty, match="still being built"):
                reader.search("anything")
        finally:
            writer._store.unlock()
        with pytest.raises(StoreEmpty, match="askarchive index PATH"):
            reader.search("anything")


def _problems(items: list) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(Path(s.path).name, s.reason) for s in items}


def test_every_run_lists_what_is_not_indexed(tmp_path: Path, archive_dir: Path) -> None:
    """A file skipped once is listed again by every run until it is fixed or removed, without
    being re-read; symlink loops and dangling links are named."""
    (archive_dir / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (archive_dir / "empty.txt").write_text("", encoding="utf-8")
    (archive_dir / "huge.txt").write_bytes(b"Title\n\n" + b"word " * (1_100_000))
    (archive_dir / "notes.docx").write_bytes(b"PK")
    good = json.dumps({"title": "Port reopens", "body": "The port of Aqaba reopened."})
    (archive_dir / "feed.jsonl").write_text(good + "\n{not json\n", encoding="utf-8")
    (archive_dir / "latin.txt").write_bytes(b"Caf\xe9 opens\n\nA caf\xe9 opened in Amman.")
    os.symlink(archive_dir, archive_dir / "loop", target_is_directory=True)
    os.symlink(archive_dir / "gone.txt", archive_dir / "dangling.txt")

    with _open(tmp_path) as archive:
        first = archive.index([archive_dir])
        assert first.added == 6 + 2  # the sample articles, feed.jsonl line 1, latin.txt
        skipped = _problems(first.skipped)
        names = {name for name, _ in skipped}
        assert names == {
            "blob.txt",
            "empty.txt",
            "huge.txt",
            "notes.docx",
            "feed.jsonl:2",
            "loop",
            "dangling.txt",
        }
        reasons = dict(skipped)
        assert reasons["loop"].startswith("symlink loop")
        assert reasons["dangling.txt"].startswith("dangling symlink")
        assert "over the 5.0 MB limit" in reasons["huge.txt"]
        assert reasons["feed.jsonl:2"].startswith("malformed JSON")
        assert [Path(w.path).name for w in first.warnings] == ["latin.txt"]

        second = archive.index([archive_dir])
        assert (second.added, second.updated, second.unchanged) == (0, 0, 8)
        assert _problems(second.skipped) == skipped
        assert _problems(second.warnings) == _problems(first.warnings)

        # A fixed file is indexed and no longer listed; a removed one is forgotten.
        (archive_dir / "blob.txt").write_text("Blob fixed\n\nNow it is text.", encoding="utf-8")
        (archive_dir / "empty.txt").unlink()
        third = archive.index([archive_dir])
        assert third.added == 1
        assert _problems(third.skipped) == {
            p for p in skipped if p[0] not in ("blob.txt", "empty.txt")
        }
        reports = archive._store.file_reports()
        assert not any(Path(p).name in ("blob.txt", "empty.txt") for p in reports)


class _CommitWatch:
    """A progress callback that reads, through its own read-only connection, how many articles
    are committed at each embedding step: (time, chunks done, chunks total, committed)."""

    def __init__(self, index: Path) -> None:
        self.index = index
        self.seen: list[tuple[float, int, int, int]] = []
        self.con: sqlite3.Connection | None = None

    def __call__(self, p: indexer.Progress) -> None:
        if p.phase != "embed":
            return
        if self.con is None:
            db = self.index / (self.index / "CURRENT").read_text(encoding="utf-8").strip()
            self.con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        committed = self.con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        self.seen.append((time.monotonic(), p.chunks_done, p.chunks_total, committed))

    def committed_mid_run(self) -> int:
        return max(c for _, done, total, c in self.seen if done < total)

    def longest_without_commit(self) -> float:
        last_change, last_count, longest = self.seen[0][0], 0, 0.0
        for t, _, _, committed in self.seen:
            if committed != last_count:
                longest = max(longest, t - last_change)
                last_change, last_count = t, committed
        return longest


def test_commits_by_time_as_well_as_by_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a slow embedder, articles are committed every COMMIT_SECONDS, long before the chunk
    count would call for a commit; another connection sees them while the run goes on."""
    make_archive(tmp_path / "arch", n=24, sentences=14)
    monkeypatch.setattr(indexer, "COMMIT_CHUNKS", 100_000)  # the count alone never commits
    monkeypatch.setattr(indexer, "MINI_BATCH", 4)
    monkeypatch.setattr(indexer, "COMMIT_SECONDS", 0.2, raising=False)
    watch = _CommitWatch(tmp_path / "idx")
    with _open(tmp_path, SlowHashEmbedder(delay=0.05)) as archive:
        report = archive.index([tmp_path / "arch"], progress=watch)
        assert_consistent(archive._store)
    assert watch.con is not None
    watch.con.close()
    assert report.added == 24
    assert watch.seen[-1][2] >= 60, "enough mini-batches for several commit intervals"
    assert watch.committed_mid_run() > 0, "nothing was committed before the embedding finished"
    # No stretch of embedding without a new commit much longer than COMMIT_SECONDS.
    assert watch.longest_without_commit() < 1.0


def test_first_commit_comes_after_a_small_first_batch(tmp_path: Path) -> None:
    """With the real settings, a slow machine commits its first articles after a few chunks,
    not after COMMIT_CHUNKS (a kill before the first commit would keep nothing)."""
    make_archive(tmp_path / "arch", n=12, sentences=14)
    watch = _CommitWatch(tmp_path / "idx")
    with _open(tmp_path, SlowHashEmbedder(delay=0.05)) as archive:
        archive.index([tmp_path / "arch"], progress=watch)
    assert watch.con is not None
    watch.con.close()
    total = watch.seen[-1][2]
    assert total < indexer.COMMIT_CHUNKS
    # Seen at the first step after the first batch: of MIN_BATCH chunks, rounded up to whole
    # articles, plus at most the second batch (as small), which embeds while the first commits.
    first = next(done for _, done, _, c in watch.seen if c > 0)
    per_article = -(-total // 12)
    assert first <= 2 * (indexer.MIN_BATCH + per_article) < total


class IdsEmbedder(HashEmbedder):
    """A hash embedder that also takes the chunker's ids, and keeps what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.given: dict[str, list[int] | None] = {}

    def encode_tokens(
        self, texts: list[str], tokens: list[list[int] | None], batch_size: int = 32
    ) -> object:
        self.given.update(zip(texts, tokens, strict=True))
        return self.encode(texts, batch_size)


def test_the_chunkers_ids_reach_an_encoder_that_takes_them(
    tmp_path: Path, archive_dir: Path
) -> None:
    emb = IdsEmbedder()
    with _open(tmp_path, emb) as archive:
        report = archive.index([archive_dir])
    assert len(emb.given) == report.chunks > 0
    for text, ids in emb.given.items():
        # The fake's token id is a word's length: the title's words, then the chunk's.
        assert ids == [len(w) for w in re.findall(r"\w+", text)]
