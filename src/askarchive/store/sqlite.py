"""The on-disk store: SQLite is the source of truth, FAISS a rebuildable search structure.

Layout of an index directory::

    CURRENT                    names the live database file (replaced atomically)
    store-<uuid>.sqlite        articles, chunks (with their vectors), FTS5 keyword index, manifest
    store-<uuid>-<gen>.hnsw.faiss  the FAISS index matching generation <gen> of that database
    index.lock                 held by the one process allowed to write

Every write transaction bumps ``generation``. A FAISS file is trusted only when its name carries
the database's uuid and current generation; otherwise it is rebuilt from the vectors in SQLite.
So after a crash at any point, readers see the last committed generation and a FAISS index that
matches it, never a mix. ``--rebuild`` builds a whole new database beside the live one and
switches ``CURRENT`` to it in one atomic rename; readers that still hold the old one keep it.

``CURRENT`` may only name a ``store-*.sqlite`` file inside the folder. Opening without ``create``
is read-only and creates or changes no file (see ``database.connect_readonly``). A store that
cannot be read raises ``StoreCorrupt`` naming ``--rebuild``; the rebuild then moves the damaged
files into a ``damaged-<time>`` folder (``move_aside``) instead of deleting them.

Every SQL statement of the index lives in this folder: ``database`` (schema, connections),
``manifest``, ``articles`` (what the indexer writes), ``chunks`` (what search reads). ``folder``
handles ``CURRENT`` and the lock; ``dense`` the FAISS index, which ``Store`` holds as ``faiss``.
``Store`` is the one object the rest of the package uses.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from askarchive.errors import StoreCorrupt
from askarchive.models import Article, Chunk, DateWindow
from askarchive.store import articles, chunks, database, folder, manifest
from askarchive.store.chunks import ChunkHit, ChunkTable
from askarchive.store.dense import DenseIndex
from askarchive.store.mirror import FaissMirror


class Store:
    """One database of an index folder, with the dense index derived from it (``faiss``).

    Readers may open it while a writer holds the folder's lock.
    """

    def __init__(
        self,
        root: Path,
        con: sqlite3.Connection,
        db_path: Path,
        *,
        immutable: bool = False,
        opened_as: tuple[int, int, int] | None = None,
    ) -> None:
        self.root = root
        self.con = con
        self.db_path = db_path
        self.faiss = FaissMirror(root, self.uid, self)
        self._table: ChunkTable | None = None
        self._next_chunk: int | None = None
        self._lock_fd: int | None = None
        self._immutable = immutable  # see database.connect_readonly
        self._opened_as = opened_as

    @property
    def uid(self) -> str:
        return folder.database_uid(self.db_path)

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, *, create: bool) -> Store | None:
        """Open the live database of ``root``.

        Without ``create`` the database is opened read-only and no file is created or changed;
        None if there is no index. With ``create``, it is opened for writing, and an empty one
        is started if there is none. A damaged store raises ``StoreCorrupt`` naming --rebuild.
        """
        db = folder.live_database(root)
        if db is not None:
            return cls.open_file(root, db, readonly=not create)
        if not create:
            return None
        folder.make_folder(root)
        store = cls.open_file(root, folder.new_database_path(root))
        store.publish()
        return store

    @classmethod
    def open_file(cls, root: Path, db: Path, *, readonly: bool = False) -> Store:
        """Open ``db`` (read-only: never created or changed; else created if missing)."""
        if readonly or db.exists():
            database.check_database_file(root, db)
        con: sqlite3.Connection | None = None
        try:
            opened_as = database.stat_key(db)
            if readonly:
                con, immutable = database.connect_readonly(db)
            else:
                con, immutable = database.connect(db), False
            store = cls(root, con, db, immutable=immutable, opened_as=opened_as)
            store.manifest()  # touches the schema: fails fast on a file that is not ours
        except sqlite3.DatabaseError as exc:
            if con is not None:
                con.close()
            raise folder.damaged(root, f"its database {db.name} cannot be read ({exc})") from exc
        return store

    @classmethod
    def placeholder(cls, root: Path) -> Store:
        """An empty store in memory, standing in for a damaged one until a rebuild replaces it."""
        # The name is never opened: it names nothing on disk.
        return cls(root, database.connect_memory(), root / "store-damaged.sqlite")

    @classmethod
    def damage(cls, root: Path) -> str | None:
        """Why the live store of ``root`` cannot be read; None if it reads or there is none.

        Reads every page (SQLite's quick_check), so it is meant for ``--rebuild``, not opening.
        """
        try:
            store = cls.open(root, create=False)
        except StoreCorrupt as exc:
            return exc.reason or str(exc)
        if store is None:
            return None
        try:
            verdict = database.quick_check(store.con)
        finally:
            store.close()
        if verdict == "ok":
            return None
        verdict = " ".join(verdict.split())[:120]
        return f"its database {store.db_path.name} fails SQLite's check ({verdict})"

    # The folder's files, for the facade: see folder.py.
    make_folder = staticmethod(folder.make_folder)
    new_database_path = staticmethod(folder.new_database_path)
    move_aside = staticmethod(folder.move_aside)

    def publish(self) -> None:
        """Make this database the live one for its directory (atomic)."""
        folder.publish(self.root, self.db_path)

    def remove_stale_files(self) -> None:
        """Delete databases and FAISS files that ``CURRENT`` does not name (hold the lock)."""
        folder.remove_stale_files(self.root)

    def stale(self) -> bool:
        """True when this read-only view may no longer match its file: it was opened
        ``immutable`` and a writer has since opened (or changed) the database."""
        if not self._immutable:
            return False
        if database.wal_path(self.db_path).exists():
            return True
        return database.stat_key(self.db_path) != self._opened_as

    def close(self) -> None:
        self.unlock()
        self.con.close()

    # -- locking and transactions -----------------------------------------------------------
    def lock(self) -> None:
        self._lock_fd = folder.lock_folder(self.root)

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def writer_active(self) -> bool:
        """True while another connection (any process, this one included) holds the write lock."""
        return self._lock_fd is None and folder.writer_active(self.root)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN IMMEDIATE")
        self._next_chunk = None
        try:
            yield
            if self._next_chunk is not None:
                manifest.set_last_chunk_id(self.con, self._next_chunk - 1)
        except BaseException:
            self.con.execute("ROLLBACK")
            self._next_chunk = None
            raise
        self.con.execute("COMMIT")

    def _new_chunk_id(self) -> int:
        """A chunk id never used before in this database, even by a deleted chunk.

        SQLite would hand out the id of a deleted last row again; the FAISS graph still holds
        deleted ids as masked nodes, so a reused id would bring back the old vector.
        """
        if self._next_chunk is None:
            self._next_chunk = manifest.last_chunk_id(self.con) + 1
        cid = self._next_chunk
        self._next_chunk += 1
        return cid

    # -- manifest -------------------------------------------------------------------------
    def manifest(self) -> dict[str, str]:
        return manifest.read(self.con)

    def init_manifest(self, model: str, dim: int, settings: dict[str, int]) -> None:
        with self.transaction():
            manifest.write_new(self.con, model, dim, settings)

    def check_manifest(self, model: str, dim: int, settings: dict[str, int]) -> None:
        """Raise ``StoreMismatch`` unless the index was built with this model and chunking."""
        manifest.check(self.manifest(), self.root, model, dim, settings)

    @property
    def generation(self) -> int:
        return manifest.generation(self.con)

    def bump_generation(self) -> int:
        """Call inside a write transaction."""
        gen = self.generation + 1
        manifest.set_generation(self.con, gen)
        return gen

    @property
    def dim(self) -> int:
        return int(self.manifest()["dim"])

    def roots(self) -> list[Path]:
        """The folders and files given to ``index`` (absolute), in the order first given."""
        return manifest.roots(self.con)

    def add_roots(self, paths: Iterable[Path]) -> None:
        """Remember ``paths`` (absolute) as indexed roots, so paths can be shown relative to
        the folder they were indexed from. Commits at once; not part of the FAISS generation."""
        known = [str(p) for p in self.roots()]
        fresh = [str(p) for p in paths if str(p) not in known]
        if fresh:
            with self.transaction():
                manifest.set_roots(self.con, list(dict.fromkeys(known + fresh)))

    # -- what the indexer writes (inside a transaction) and reads -------------------------------
    def known_files(self) -> dict[str, tuple[int, int]]:
        return articles.known_files(self.con)

    def set_file(self, path: str, size: int, mtime_ns: int) -> None:
        articles.set_file(self.con, path, size, mtime_ns)

    def forget_file(self, path: str) -> None:
        articles.forget_file(self.con, path)

    def article_hashes(self, path: str) -> dict[str, str]:
        return articles.article_hashes(self.con, path)

    def article_ids_for_path(self, path: str) -> list[str]:
        return articles.article_ids_for_path(self.con, path)

    def delete_articles(self, ids: Iterable[str]) -> list[int]:
        """Delete articles with their chunks and keyword rows; return the removed chunk ids."""
        return articles.delete_articles(self.con, ids)

    def insert_article(
        self, article: Article, content_hash: str, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> list[int]:
        """Insert an article with its chunks and their vectors; return the new chunk ids."""
        return articles.insert_article(
            self.con, article, content_hash, chunks, vectors, self._new_chunk_id
        )

    def file_reports(self) -> dict[str, articles.FileReport]:
        """path -> (size, mtime_ns, skipped, warnings); each entry is (path, reason)."""
        return articles.file_reports(self.con)

    def set_file_report(
        self,
        path: str,
        size: int,
        mtime_ns: int,
        skipped: Sequence[tuple[str, str]],
        warnings: Sequence[tuple[str, str]],
    ) -> None:
        """Call inside a write transaction, with ``set_file`` for the same path."""
        articles.set_file_report(self.con, path, size, mtime_ns, skipped, warnings)

    def forget_file_report(self, path: str) -> None:
        articles.forget_file_report(self.con, path)

    # -- what the facade reads ----------------------------------------------------------------
    def article(self, article_id: str) -> Article | None:
        return articles.article(self.con, article_id)

    def counts(self) -> tuple[int, int]:
        """(articles, chunks)."""
        return articles.counts(self.con)

    def date_range(self) -> tuple[dt.date | None, dt.date | None]:
        return articles.date_range(self.con)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.iterdir() if p.is_file())

    # -- what search reads ----------------------------------------------------------------------
    def chunk_table(self) -> ChunkTable:
        """The live chunk ids and their dates for the current generation (cached per generation)."""
        gen = self.generation
        if self._table is not None and self._table.generation == gen:
            return self._table
        self.con.execute("BEGIN")
        try:
            # Generation and rows from one snapshot: a commit in between cannot mix them.
            self._table = ChunkTable.read(self.con, self.generation)
        finally:
            self.con.execute("COMMIT")
        return self._table

    def filtered_chunk_ids(
        self, window: DateWindow | None, source: str | None
    ) -> np.ndarray | None:
        """Sorted ids of chunks published within ``window`` from a file whose path holds
        ``source`` (any case); None when neither filters anything."""
        if window is None and not source:
            return None
        table = self.chunk_table()
        ids = table.ids if window is None else table.in_window(window.since, window.until)
        if source:
            ids = ids[np.isin(ids, chunks.ids_from_source(self.con, source))]
        return ids

    def hits(self, chunk_ids: Sequence[int]) -> dict[int, ChunkHit]:
        """The text, place and article of each chunk (ids no longer stored are left out)."""
        return chunks.hits(self.con, chunk_ids)

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        return chunks.all_vectors(self.con, dim)

    def vector_batches(self, dim: int, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return chunks.vector_batches(self.con, dim, size)

    def vectors_for(self, chunk_ids: Sequence[int], dim: int) -> dict[int, np.ndarray]:
        return chunks.vectors_for(self.con, chunk_ids, dim)

    def chunks_after(self, chunk_id: int) -> tuple[int, int]:
        """(chunks with an id above ``chunk_id``, all chunks)."""
        return chunks.chunks_after(self.con, chunk_id)

    def article_centroids(self, article_ids: Iterable[str], dim: int) -> dict[str, np.ndarray]:
        """Mean chunk vector of each article, normalised: a cheap whole-article fingerprint."""
        return chunks.article_centroids(self.con, sorted(article_ids), dim)

    def keyword_rows(self, term: str, cap: int | None = None) -> int:
        """How many chunks hold ``term``, counted up to ``cap`` (an FTS5 count; user text is
        never FTS5 syntax)."""
        return chunks.keyword_rows(self.con, term, cap)

    def keyword_top(
        self,
        terms: Sequence[str],
        n: int,
        *,
        within: Sequence[str] | None = None,
        window: DateWindow | None = None,
        source: str | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``n`` (chunk id, BM25 score) over ``terms``; see ``chunks.keyword_top``."""
        return chunks.keyword_top(self.con, terms, n, within=within, window=window, source=source)

    # -- the dense index ------------------------------------------------------------------------
    def dense_index(self) -> DenseIndex:
        """The dense index for the current generation: kept, loaded, updated or rebuilt."""
        return self.faiss.current()

    def apply_to_faiss(
        self, added_ids: Sequence[int], vectors: np.ndarray, removed: Sequence[int]
    ) -> None:
        """Mirror one committed transaction into the in-memory index (caller just committed)."""
        self.faiss.apply(added_ids, vectors, removed)

    def save_faiss(self) -> None:
        """Write the dense index for the current generation atomically; drop older files."""
        self.faiss.save()
