"""Bring a store up to date with a set of archive paths, doing only the work that changed.

A run: discover files; skip files whose size and mtime are unchanged; parse the rest and compare
each article's content hash with the stored one; delete what disappeared; chunk and embed what is
new or edited, committing whole articles in batches. Each commit is one SQLite transaction, so a
crash or Ctrl-C loses at most the batch in flight and the next run picks up from there.
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

from askarchive.chunking import ChunkSettings, chunk_article
from askarchive.embedding import Embedder
from askarchive.errors import AskArchiveError, NothingIndexed
from askarchive.models import Article, Chunk, IndexReport, Skipped
from askarchive.store import Store

# Chunks per commit. Large enough that length-sorted mini-batches pad little, small enough
# that an interrupted run loses well under a minute of embedding.
COMMIT_CHUNKS = 512
MINI_BATCH = 32


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


@dataclass
class _FileWork:
    """What one changed file contributes; its `files` row is written with its last article."""

    path: str
    size: int
    mtime_ns: int
    remaining: int = 0
    pending: list[_Pending] = field(default_factory=list)


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
            continue
        work.append(_FileWork(str(f), st.st_size, st.st_mtime_ns))

    removed_chunks: list[int] = []
    if gone:
        with store.transaction():
            for path in gone:
                ids = store.article_ids_for_path(path)
                removed_chunks += store.delete_articles(ids)
                store.forget_file(path)
                report.removed += len(ids)
            store.bump_generation()
        store.apply_to_faiss([], np.zeros((0, embedder.dim), np.float32), removed_chunks)

    # Parse changed files and decide per article: unchanged, new, edited, or vanished.
    pending: list[_Pending] = []
    quiet: list[_FileWork] = []  # changed on disk but no article needs embedding
    for i, fw in enumerate(work):
        notify(Progress("parse", i + 1, len(work)))
        result = parse_file(Path(fw.path))
        report.skipped.extend(result.skipped)
        report.warnings.extend(result.warnings)
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
                report.skipped.append(Skipped(fw.path, f"article {article.title!r} has no text"))
                continue
            p = _Pending(article, h, chunks, texts, replaces=article.id in stored)
            fw.pending.append(p)
            pending.append(p)
        fw.remaining = len(fw.pending)
        vanished = [aid for aid in stored if aid not in seen]
        if vanished or not fw.pending:
            # Deletions inside a changed file and files with nothing to embed commit at once.
            with store.transaction():
                removed = store.delete_articles(vanished)
                if not fw.pending:
                    store.set_file(fw.path, fw.size, fw.mtime_ns)
                store.bump_generation()
            store.apply_to_faiss([], np.zeros((0, embedder.dim), np.float32), removed)
            report.removed += len(vanished)
        if not fw.pending:
            quiet.append(fw)

    owner = {id(p): fw for fw in work for p in fw.pending}
    total_chunks = sum(len(p.chunks) for p in pending)
    done_chunks = 0
    notify(Progress("embed", 0, len(pending), 0, total_chunks))

    batch: list[_Pending] = []
    articles_done = 0

    def commit(items: list[_Pending]) -> None:
        nonlocal articles_done
        ready = [p for p in items if p.vectors is not None]
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
                    store.set_file(fw.path, fw.size, fw.mtime_ns)
            store.bump_generation()
        store.apply_to_faiss(added_ids, np.concatenate(added_vecs), removed)
        for p in ready:
            if p.replaces:
                report.updated += 1
            else:
                report.added += 1
            report.chunks += len(p.chunks)
        articles_done += len(ready)

    def embed(items: list[_Pending]) -> bool:
        """Embed a batch in length-sorted mini-batches; False if cancelled part-way."""
        nonlocal done_chunks
        flat = [(p, j) for p in items for j in range(len(p.texts))]
        flat.sort(key=lambda pj: pj[0].chunks[pj[1]].tokens)
        out = {id(p): np.zeros((len(p.texts), embedder.dim), np.float32) for p in items}
        filled = {id(p): 0 for p in items}
        for k in range(0, len(flat), MINI_BATCH):
            if cancel is not None and cancel.is_set():
                break
            part = flat[k : k + MINI_BATCH]
            vecs = embedder.encode([p.texts[j] for p, j in part], batch_size=MINI_BATCH)
            for (p, j), v in zip(part, vecs, strict=True):
                out[id(p)][j] = v
                filled[id(p)] += 1
            done_chunks += len(part)
            notify(Progress("embed", articles_done, len(pending), done_chunks, total_chunks))
        for p in items:
            if filled[id(p)] == len(p.texts):
                p.vectors = out[id(p)]
        return all(p.vectors is not None for p in items)

    for p in pending:
        if cancel is not None and cancel.is_set():
            break
        batch.append(p)
        if sum(len(b.chunks) for b in batch) >= COMMIT_CHUNKS:
            complete = embed(batch)
            commit(batch)
            batch = []
            if not complete:
                break
    if batch and not (cancel is not None and cancel.is_set()):
        embed(batch)
        commit(batch)

    report.interrupted = bool(cancel is not None and cancel.is_set())
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
