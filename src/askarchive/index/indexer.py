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

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from askarchive.embed.embedding import Embedder
from askarchive.errors import AskArchiveError, NothingIndexed
from askarchive.index.chunking import ChunkSettings, chunk_article
from askarchive.models import Article, Chunk, IndexReport, Skipped
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
MINI_BATCH = 32
# Smallest batch. Under heavy load (~4 chunks/s was seen) one MINI_BATCH alone takes ~8 s, so
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


@dataclass
class _Pending:
    article: Article
    content_hash: str
    chunks: list[Chunk]
    texts: list[str]
    replaces: bool  # an older version of this article is stored
    vectors: np.ndarray | None = None
    committed: bool = False


@dataclass
class _FileWork:
    """What one changed file contributes; its `files` row is written with its last article."""

    path: str
    size: int
    mtime_ns: int
    remaining: int = 0
    pending: list[_Pending] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)

    def mark_done(self, store: Store) -> None:
        """Record the file as indexed, with what it could not contribute (in a transaction)."""
        store.set_file(self.path, self.size, self.mtime_ns)
        store.set_file_report(
            self.path,
            self.size,
            self.mtime_ns,
            [(s.path, s.reason) for s in self.skipped],
            [(w.path, w.reason) for w in self.warnings],
        )


def content_hash(article: Article) -> str:
    payload = json.dumps(
        [
            article.title,
            article.body,
            article.date.isoformat() if article.date else None,
            article.date_source,
            article.url,
            article.source_id,
            article.metadata,
        ],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


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
) -> IndexReport:
    """Index ``paths`` into ``store`` (which the caller has locked and checked)."""
    from askarchive.ingest import discover, parse_file

    started = time.perf_counter()
    report = IndexReport()
    notify = progress or (lambda _p: None)
    roots = [Path(p).expanduser().resolve() for p in paths]
    # Recorded so that paths can be shown relative to the folder they were indexed from.
    store.add_roots(r for r in roots if r.exists())
    files, skipped = discover(paths)
    report.skipped.extend(skipped)
    known = store.known_files()
    earlier = store.file_reports()

    # Removed files: under a root we were given, known before, absent now.
    present = {str(f) for f in files}
    gone = [p for p in known if _under(p, roots) and p not in present]

    work: list[_FileWork] = []
    for i, f in enumerate(files):
        notify(Progress("scan", i + 1, len(files)))
        try:
            st = f.stat()
        except OSError as exc:
            report.skipped.append(Skipped(str(f), f"cannot read: {exc.strerror}"))
            continue
        if known.get(str(f)) == (st.st_size, st.st_mtime_ns):
            report.unchanged += len(store.article_ids_for_path(str(f)))
            # Not re-read, but whatever it could not contribute is still missing: say so again.
            size, mtime_ns, skipped_before, warned_before = earlier.get(str(f), (-1, -1, [], []))
            if (size, mtime_ns) == (st.st_size, st.st_mtime_ns):
                report.skipped += [Skipped(p, r) for p, r in skipped_before]
                report.warnings += [Skipped(p, r) for p, r in warned_before]
            continue
        work.append(_FileWork(str(f), st.st_size, st.st_mtime_ns))

    removed_chunks: list[int] = []
    if gone:
        with store.transaction():
            for path in gone:
                ids = store.article_ids_for_path(path)
                removed_chunks += store.delete_articles(ids)
                store.forget_file(path)
                store.forget_file_report(path)
                report.removed += len(ids)
            store.bump_generation()
        store.apply_to_faiss([], np.zeros((0, embedder.dim), np.float32), removed_chunks)

    # Parse changed files and decide per article: unchanged, new, edited, or vanished.
    pending: list[_Pending] = []
    quiet: list[_FileWork] = []  # changed on disk but no article needs embedding
    for i, fw in enumerate(work):
        notify(Progress("parse", i + 1, len(work)))
        result = parse_file(Path(fw.path))
        fw.skipped += result.skipped
        fw.warnings += result.warnings
        stored = store.article_hashes(fw.path)
        seen: set[str] = set()
        for article in result.articles:
            if article.id in seen:
                continue
            seen.add(article.id)
            h = content_hash(article)
            if stored.get(article.id) == h:
                report.unchanged += 1
                continue
            chunks, texts = chunk_article(article, embedder, settings)
            if not chunks:
                fw.skipped.append(Skipped(fw.path, f"article {article.title!r} has no text"))
                continue
            p = _Pending(article, h, chunks, texts, replaces=article.id in stored)
            fw.pending.append(p)
            pending.append(p)
        fw.remaining = len(fw.pending)
        report.skipped += fw.skipped
        report.warnings += fw.warnings
        vanished = [aid for aid in stored if aid not in seen]
        if vanished or not fw.pending:
            # Deletions inside a changed file and files with nothing to embed commit at once.
            with store.transaction():
                removed = store.delete_articles(vanished)
                if not fw.pending:
                    fw.mark_done(store)
                store.bump_generation()
            store.apply_to_faiss([], np.zeros((0, embedder.dim), np.float32), removed)
            report.removed += len(vanished)
        if not fw.pending:
            quiet.append(fw)

    owner = {id(p): fw for fw in work for p in fw.pending}
    total_chunks = sum(len(p.chunks) for p in pending)
    done_chunks = 0
    notify(Progress("embed", 0, len(pending), 0, total_chunks))

    articles_done = 0
    last_commit = time.monotonic()

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    def commit(items: list[_Pending]) -> None:
        """Commit the embedded, not yet committed articles of ``items`` in one transaction."""
        nonlocal articles_done, last_commit
        ready = [p for p in items if p.vectors is not None and not p.committed]
        if not ready:
            return
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
                fw = owner[id(p)]
                fw.remaining -= 1
                if fw.remaining == 0:
                    fw.mark_done(store)
            store.bump_generation()
        store.apply_to_faiss(added_ids, np.concatenate(added_vecs), removed)
        for p in ready:
            p.committed = True
            if p.replaces:
                report.updated += 1
            else:
                report.added += 1
            report.chunks += len(p.chunks)
        articles_done += len(ready)
        last_commit = time.monotonic()

    def embed(items: list[_Pending], mini: int) -> bool:
        """Embed a batch in length-sorted mini-batches; False if cancelled part-way.

        If COMMIT_SECONDS pass since the last commit, the articles finished so far are committed
        at once (the machine slowed down more than the batch size allowed for).
        """
        nonlocal done_chunks
        flat = [(p, j) for p in items for j in range(len(p.texts))]
        flat.sort(key=lambda pj: pj[0].chunks[pj[1]].tokens)
        out = {id(p): np.zeros((len(p.texts), embedder.dim), np.float32) for p in items}
        filled = {id(p): 0 for p in items}
        # Equal-sized mini-batches of at most ``mini``: no small remainder at the end.
        parts = max(1, -(-len(flat) // mini))
        bounds = [len(flat) * q // parts for q in range(parts + 1)]
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            if cancelled():
                break
            part = flat[start:end]
            vecs = embedder.encode([p.texts[j] for p, j in part], batch_size=mini)
            for (p, j), v in zip(part, vecs, strict=True):
                out[id(p)][j] = v
                filled[id(p)] += 1
                if filled[id(p)] == len(p.texts):
                    p.vectors = out[id(p)]
            done_chunks += len(part)
            notify(Progress("embed", articles_done, len(pending), done_chunks, total_chunks))
            if time.monotonic() - last_commit >= COMMIT_SECONDS:
                commit(items)
        return all(p.vectors is not None for p in items)

    # The first batch is the smallest: the embedding rate is unknown until it is measured (and
    # the first call may load the model). Each later batch is sized from the last rate.
    smallest = min(MIN_BATCH, MINI_BATCH, COMMIT_CHUNKS)
    budget = smallest
    i = 0
    while i < len(pending) and not cancelled():
        batch: list[_Pending] = []
        size = 0
        while i < len(pending) and (not batch or size < budget):
            batch.append(pending[i])
            size += len(pending[i].chunks)
            i += 1
        t0 = time.monotonic()
        complete = embed(batch, min(MINI_BATCH, budget))
        took = time.monotonic() - t0
        commit(batch)
        if not complete:
            break
        rate = size / max(took, 1e-6)
        budget = int(min(COMMIT_CHUNKS, max(smallest, rate * COMMIT_SECONDS * BATCH_SHARE)))

    report.interrupted = cancelled()
    notify(Progress("save", articles_done, len(pending), done_chunks, total_chunks))
    store.save_faiss()
    report.seconds = time.perf_counter() - started
    notify(Progress("done", articles_done, len(pending), done_chunks, total_chunks))

    if store.counts()[0] == 0 and not report.interrupted:
        where = " ".join(str(p) for p in paths)
        if report.skipped:
            msg = (
                f"nothing could be indexed from {where}: all {len(report.skipped)} inputs were "
                "skipped; see the reasons above (or run with --json)"
            )
        else:
            msg = f"no articles found in {where}; point `askarchive index` at a folder of articles"
        err = NothingIndexed(msg)
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report


def check_paths(paths: Sequence[str | Path]) -> None:
    if not paths:
        raise AskArchiveError("give at least one archive folder or file: `askarchive index PATH`")
