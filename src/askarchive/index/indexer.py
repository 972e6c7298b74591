"""Bring a store up to date with a set of archive paths, doing only the work that changed.

A run: discover files; skip files whose size and mtime are unchanged; parse the rest and compare
each article's content hash with the stored one; delete what disappeared; chunk and embed what is
new or edited, committing whole articles in batches. Each commit is one SQLite transaction, so a
crash or Ctrl-C loses at most the batch in flight (a few seconds of work, see COMMIT_SECONDS) and
the next run picks up from there.

What each file could not contribute (skipped records, a binary or empty file) is stored with the
file's size and mtime, so a later run that does not re-read the unchanged file still lists it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from askarchive.embed.embedding import BatchEncoder, Embedder
from askarchive.errors import AskArchiveError, NothingIndexed
from askarchive.index.chunking import ChunkSettings
from askarchive.index.inflight import InFlight
from askarchive.index.work import FileWork, Parser, Pending, _Message
from askarchive.models import IndexReport, Skipped
from askarchive.store.sqlite import Store

# Most chunks per commit. Chunks are embedded in length-sorted mini-batches within a commit, so
# a larger batch pads less; past a few hundred chunks the gain is negligible.
COMMIT_CHUNKS = 512
# Most seconds of embedding between two commits, so a kill loses at most about this much work.
# On a loaded laptop CPU 512 chunks can take over a minute (~6 chunks/s was seen), so a count
# alone is no bound. A commit costs milliseconds (one SQLite transaction plus a FAISS add), so
# committing every few seconds costs no measurable throughput.
COMMIT_SECONDS = 5.0
# Each batch is sized from the rate measured on the one before to take this share of
# COMMIT_SECONDS, so a machine that slows down by up to 2x between batches still commits in time;
# should it slow down more, the articles finished so far are committed when the time is up.
BATCH_SHARE = 0.5
# Most chunks per encode call within a batch: the step of progress and of Ctrl-C (about a
# second). Each call ends when its slowest text does, so on the CPU, where every core runs one
# text at a time (ortencoder.TextPool), fewer and larger calls leave cores idle less often;
# padded backends still run inflight.ENCODE_BATCH texts at a time.
MINI_BATCH = 128
# Smallest batch. Under heavy load (~4 chunks/s was seen) one MINI_BATCH alone takes ~30 s, so
# batches and mini-batches shrink to this; CPU throughput barely depends on batch size at this
# scale. Kept above embedding.SMALL_BATCH, whose batches go through the question encoder.
MIN_BATCH = 8


@dataclass(frozen=True, slots=True)
class Progress:
    phase: str  # "scan", "parse", "embed", "save", "done"
    done: int
    total: int
    chunks_done: int = 0
    chunks_total: int = 0


ProgressCallback = Callable[[Progress], None]


def _under(path: str, roots: Sequence[Path]) -> bool:
    return any(path == str(r) or path.startswith(str(r) + os.sep) for r in roots)


def run_index(
    store: Store,
    embedder: Embedder,
    settings: ChunkSettings,
    paths: Sequence[str | Path],
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    encoder: BatchEncoder | None = None,
) -> IndexReport:
    """Index ``paths`` into ``store`` (which the caller has locked and checked).

    ``embedder`` cuts the chunks (its tokenizer) and names the model; ``encoder``, when given,
    turns the chunk texts into vectors in its place (another runtime or machine running the same
    model: its vectors must match the embedder's).
    """
    run = _Run(store, embedder, encoder or embedder, settings, progress, cancel)
    work = run.scan(paths)
    with Parser(work, embedder, settings, store) as parser:
        run.embed_all(parser)
    run.finish(paths)
    return run.report


class _Run:
    """One ``run_index`` call: its steps in order, and the report and counters they share."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        encoder: BatchEncoder,
        settings: ChunkSettings,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        self.started = time.perf_counter()
        self.store = store
        self.embedder = embedder
        self.encoder = encoder
        self.settings = settings
        self.notify: ProgressCallback = progress or (lambda _p: None)
        self.cancel = cancel
        self.report = IndexReport()
        self.articles_total = 0
        self.articles_done = 0
        self.chunks_total = 0
        self.chunks_done = 0
        # Totals for progress while the parser is still running (0: the counts are exact).
        self.articles_expected = 0
        self.chunks_expected = 0
        self.last_commit = time.monotonic()

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def _embed_progress(self, phase: str = "embed") -> Progress:
        articles = max(self.articles_total, self.articles_expected)
        chunks = max(self.chunks_total, self.chunks_expected)
        return Progress(phase, self.articles_done, articles, self.chunks_done, chunks)

    def _drop_vectors(self, chunk_ids: list[int]) -> None:
        empty = np.zeros((0, self.embedder.dim), np.float32)
        self.store.apply_to_faiss([], empty, chunk_ids)

    # -- step 1: which files changed ----------------------------------------------------------
    def scan(self, paths: Sequence[str | Path]) -> list[FileWork]:
        """Find the files under ``paths``; forget removed ones; return the new or changed ones."""
        from askarchive.ingest import discover

        store, report = self.store, self.report
        roots = [Path(p).expanduser().resolve() for p in paths]
        # Recorded so that paths can be shown relative to the folder they were indexed from.
        store.add_roots(r for r in roots if r.exists())
        files, skipped = discover(paths)
        report.skipped.extend(skipped)
        known = store.known_files()
        earlier = store.file_reports()

        work: list[FileWork] = []
        for i, f in enumerate(files):
            self.notify(Progress("scan", i + 1, len(files)))
            try:
                st = f.stat()
            except OSError as exc:
                report.skipped.append(Skipped(str(f), f"cannot read: {exc.strerror}"))
                continue
            if known.get(str(f)) == (st.st_size, st.st_mtime_ns):
                report.unchanged += len(store.article_ids_for_path(str(f)))
                # Not re-read, but whatever it could not contribute is still missing: say so.
                size, mtime_ns, skipped_before, warned_before = earlier.get(
                    str(f), (-1, -1, [], [])
                )
                if (size, mtime_ns) == (st.st_size, st.st_mtime_ns):
                    report.skipped += [Skipped(p, r) for p, r in skipped_before]
                    report.warnings += [Skipped(p, r) for p, r in warned_before]
                continue
            work.append(FileWork(str(f), st.st_size, st.st_mtime_ns))

        # Removed files: under a root we were given, known before, absent now.
        present = {str(f) for f in files}
        self._forget([p for p in known if _under(p, roots) and p not in present])
        return work

    def _forget(self, gone: list[str]) -> None:
        """Delete the articles of files that no longer exist, in one transaction."""
        if not gone:
            return
        removed: list[int] = []
        with self.store.transaction():
            for path in gone:
                ids = self.store.article_ids_for_path(path)
                removed += self.store.delete_articles(ids)
                self.store.forget_file(path)
                self.store.forget_file_report(path)
                self.report.removed += len(ids)
            self.store.bump_generation()
        self._drop_vectors(removed)

    # -- step 2: take the parser's articles as they come -------------------------------------
    def _receive(self, msg: _Message, parser: Parser) -> Pending | None:
        """Account for one message of the parser; return the article it brings, if any."""
        kind, fw, payload = msg
        if kind == "article":
            assert isinstance(payload, Pending)
            fw.remaining += 1
            self.articles_total += 1
            self.chunks_total += len(payload.chunks)
            return payload
        assert isinstance(payload, list)
        report, store = self.report, self.store
        fw.closed = True
        report.unchanged += parser.unchanged.pop(fw.path, 0)
        report.skipped += fw.skipped
        report.warnings += fw.warnings
        if payload or fw.remaining == 0:
            # Deletions inside a changed file, and a file whose articles are all committed (or
            # that had none to embed), commit at once.
            with store.transaction():
                removed = store.delete_articles(payload)
                if fw.remaining == 0:
                    fw.mark_done(store)
                store.bump_generation()
            self._drop_vectors(removed)
            report.removed += len(payload)
        return None

    def _estimate(self, parser: Parser) -> None:
        """Totals for the progress bar while files are still being parsed: what is known, plus
        the files not parsed yet at the rate of articles and chunks per byte seen so far."""
        left = parser.bytes_total - parser.bytes_done
        if left <= 0 or parser.bytes_done <= 0:
            return
        per_byte = parser.announced / parser.bytes_done
        self.articles_expected = self.articles_total + int(left * per_byte)
        per_article = self.chunks_total / max(1, self.articles_total)
        self.chunks_expected = self.chunks_total + int(left * per_byte * per_article)

    # -- step 3: embed and commit, in batches sized by time -----------------------------------
    def embed_all(self, parser: Parser) -> None:
        """Embed the parser's articles in batches, committing whole articles at least every
        COMMIT_SECONDS; stops early (after committing what is done) when cancelled.

        Three things overlap: the parser thread parses and chunks ahead, the embedding thread
        encodes one batch, and this thread commits the batch before it and takes the next one.
        """
        self.last_commit = time.monotonic()
        # The first batch is the smallest: the embedding rate is unknown until it is measured
        # (and the first call may load the model). Each later batch is sized from the last rate.
        smallest = min(MIN_BATCH, MINI_BATCH, COMMIT_CHUNKS)
        budget = smallest
        messages = iter(parser)
        more = True
        halt = threading.Event()  # this thread failed: the embedding thread stops too

        def stop() -> bool:
            return halt.is_set() or self.cancelled()

        def count(n: int) -> None:
            self.chunks_done += n

        flight: InFlight | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="askarchive-embed") as pool:
            try:
                while True:
                    batch: list[Pending] = []
                    size = 0
                    if more:
                        batch, size, more = self._take(messages, parser, budget)
                    self._estimate(parser)
                    self.notify(self._embed_progress())
                    done, flight = flight, None
                    complete = done is None or done.wait(lambda d=done: self._tick(d.items))
                    if batch and complete and not self.cancelled():
                        # A remote encoder (Ray) spreads one call over its workers: it gets
                        # the whole batch.
                        remote = getattr(self.encoder, "remote", False)
                        mini = size if remote else min(MINI_BATCH, budget)
                        flight = InFlight(pool, self.encoder, batch, mini, stop=stop, after=count)
                    if done is not None:
                        self._commit(done.items)  # while the next batch embeds
                        if not complete:
                            break
                        rate = done.chunks / max(done.seconds, 1e-6)
                        share = rate * COMMIT_SECONDS * BATCH_SHARE
                        budget = int(min(COMMIT_CHUNKS, max(smallest, share)))
                    if flight is None and (not more or self.cancelled()):
                        break
            finally:
                halt.set()
        self.articles_expected = self.chunks_expected = 0

    def _take(
        self, messages: Iterator[_Message], parser: Parser, budget: int
    ) -> tuple[list[Pending], int, bool]:
        """The parser's next articles, up to ``budget`` chunks: (articles, chunks, whether the
        parser may send more)."""
        batch: list[Pending] = []
        size = 0
        while size < budget and not self.cancelled():
            msg = next(messages, None)
            if msg is None:
                return batch, size, False
            p = self._receive(msg, parser)
            if p is not None:
                batch.append(p)
                size += len(p.chunks)
        return batch, size, True

    def _tick(self, items: list[Pending]) -> None:
        """While a batch embeds: show progress, and if COMMIT_SECONDS have passed since the
        last commit, commit its articles finished so far (the machine slowed down more than
        the batch size allowed for)."""
        self.notify(self._embed_progress())
        if time.monotonic() - self.last_commit >= COMMIT_SECONDS:
            self._commit(items)

    def _commit(self, items: list[Pending]) -> None:
        """Commit the embedded, not yet committed articles of ``items`` in one transaction."""
        ready = [p for p in items if p.vectors is not None and not p.committed]
        if not ready:
            return
        store = self.store
        added_ids: list[int] = []
        added_vecs: list[np.ndarray] = []
        removed: list[int] = []
        with store.transaction():
            for p in ready:
                if p.replaces:
                    removed += store.delete_articles([p.article.id])
                assert p.vectors is not None
                added_ids += store.insert_article(p.article, p.content_hash, p.chunks, p.vectors)
                added_vecs.append(p.vectors)
                p.file.remaining -= 1
                if p.file.remaining == 0 and p.file.closed:
                    p.file.mark_done(store)
            store.bump_generation()
        store.apply_to_faiss(added_ids, np.concatenate(added_vecs), removed)
        for p in ready:
            p.committed = True
            if p.replaces:
                self.report.updated += 1
            else:
                self.report.added += 1
            self.report.chunks += len(p.chunks)
        self.articles_done += len(ready)
        self.last_commit = time.monotonic()

    # -- step 4: save and report --------------------------------------------------------------
    def finish(self, paths: Sequence[str | Path]) -> None:
        """Save the vectors and complete the report; an index left empty is an error."""
        report = self.report
        report.interrupted = self.cancelled()
        self.notify(self._embed_progress("save"))
        self.store.save_faiss()
        report.seconds = time.perf_counter() - self.started
        self.notify(self._embed_progress("done"))

        if self.store.counts()[0] == 0 and not report.interrupted:
            where = " ".join(str(p) for p in paths)
            if report.skipped:
                msg = (
                    f"nothing could be indexed from {where}: all {len(report.skipped)} inputs "
                    "were skipped; see the reasons above (or run with --json)"
                )
            else:
                msg = (
                    f"no articles found in {where}; point `askarchive index` at a folder of "
                    "articles"
                )
            err = NothingIndexed(msg)
            err.report = report  # type: ignore[attr-defined]
            raise err


def check_paths(paths: Sequence[str | Path]) -> None:
    if not paths:
        raise AskArchiveError("give at least one archive folder or file: `askarchive index PATH`")
