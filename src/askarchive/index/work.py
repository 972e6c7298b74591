"""What the indexer works on, and the parser that feeds it from a thread of its own.

``Parser`` reads the changed files, decides per article whether it is new, edited or unchanged,
and chunks what needs embedding, on a background thread, while the indexer embeds and commits
the articles it sent before. Parsing and chunking thus overlap embedding (ONNX Runtime and
PyTorch release the GIL while they compute). The parser never touches the store: the stored
hashes are read up front, and every write stays on the indexer's thread, in its transactions.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from askarchive.index.chunking import ChunkSettings, chunk_with_tokens
from askarchive.models import Article, Chunk, Skipped

if TYPE_CHECKING:
    from askarchive.embed.embedding import Embedder
    from askarchive.store.sqlite import Store

# Articles (with their chunks) the parser may run ahead of the indexer: enough to fill a few
# commit batches, few enough that a large archive is never held in memory at once.
AHEAD = 2048


@dataclass(eq=False)  # compared by identity: it and its file refer to each other
class Pending:
    """A new or edited article, chunked, waiting for its vectors and its commit."""

    article: Article
    content_hash: str
    chunks: list[Chunk]
    texts: list[str]
    replaces: bool  # an older version of this article is stored
    file: FileWork  # the file it came from, marked done with its last article
    tokens: list[list[int] | None]  # each text's ids, where the chunker knows them
    vectors: np.ndarray | None = None
    committed: bool = False


@dataclass
class FileWork:
    """What one changed file contributes; its `files` row is written with its last article."""

    path: str
    size: int
    mtime_ns: int
    remaining: int = 0  # articles received from the parser and not yet committed
    closed: bool = False  # the parser has sent all of this file's articles
    pending: list[Pending] = field(default_factory=list)
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


# ("article", file, Pending) for each article to embed, in file order; then ("end", file, ids of
# stored articles the file no longer holds) once the file is done.
_Message = tuple[Literal["article", "end"], FileWork, "Pending | list[str]"]
_DONE = object()


class Parser:
    """Parse and chunk ``work`` on a thread; iterate to receive its messages in order.

    Use it as a context manager: leaving stops the thread (a cancelled run does not wait for
    the rest of the archive to be parsed) and re-raises nothing it did not already deliver.
    """

    def __init__(
        self, work: Sequence[FileWork], embedder: Embedder, settings: ChunkSettings, store: Store
    ) -> None:
        self.work = list(work)
        self.embedder = embedder
        self.settings = settings
        # Read here, on the store's own thread: the parser thread never touches SQLite.
        self.stored = {fw.path: store.article_hashes(fw.path) for fw in self.work}
        self.unchanged: dict[str, int] = {}
        self.bytes_total = sum(fw.size for fw in self.work)
        self.bytes_done = 0
        self.announced = 0  # articles to embed found in the files parsed so far
        self._queue: queue.Queue[object] = queue.Queue(maxsize=AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="askarchive-parser", daemon=True)

    def __enter__(self) -> Parser:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # A parser waiting for room in the queue sees the flag within 0.1 s; one in the middle
        # of an article finishes that article first.
        self._stop.set()
        self._thread.join()

    def __iter__(self) -> Iterator[_Message]:
        while True:
            msg = self._queue.get()
            if msg is _DONE:
                return
            if isinstance(msg, BaseException):
                raise msg
            yield msg  # type: ignore[misc]

    def _put(self, msg: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(msg, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for fw in self.work:
                if self._stop.is_set() or not self._file(fw):
                    return
        except BaseException as exc:  # delivered to the indexer's thread, raised there
            self._put(exc)
            return
        self._put(_DONE)

    def _file(self, fw: FileWork) -> bool:
        """Send one file's articles to embed, then its end; False once stopped."""
        from askarchive.ingest import parse_file

        result = parse_file(Path(fw.path))
        fw.skipped += result.skipped
        fw.warnings += result.warnings
        stored = self.stored.pop(fw.path, {})
        seen: set[str] = set()
        todo: list[tuple[Article, str]] = []
        unchanged = 0
        for article in result.articles:
            if article.id in seen:
                continue
            seen.add(article.id)
            h = content_hash(article)
            if stored.get(article.id) == h:
                unchanged += 1
            else:
                todo.append((article, h))
        self.unchanged[fw.path] = unchanged
        self.announced += len(todo)
        self.bytes_done += fw.size
        for article, h in todo:
            chunks, texts, tokens = chunk_with_tokens(article, self.embedder, self.settings)
            if not chunks:
                fw.skipped.append(Skipped(fw.path, f"article {article.title!r} has no text"))
                continue
            pending = Pending(article, h, chunks, texts, article.id in stored, fw, tokens)
            if not self._put(("article", fw, pending)):
                return False
        return self._put(("end", fw, [aid for aid in stored if aid not in seen]))
