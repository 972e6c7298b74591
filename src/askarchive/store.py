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
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from askarchive.errors import StoreBusy, StoreCorrupt, StoreMismatch
from askarchive.faissindex import LOCK_NAME, FaissMirror
from askarchive.models import Article, Chunk

if TYPE_CHECKING:
    from askarchive.faissindex import ChunkTable, DenseIndex

SCHEMA_VERSION = 1
POINTER = "CURRENT"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, source_id TEXT, title TEXT NOT NULL,
    body TEXT NOT NULL, date TEXT, date_source TEXT, url TEXT, metadata TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_path ON articles(path);
CREATE INDEX IF NOT EXISTS articles_date ON articles(date);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
    seq INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    tokens INTEGER NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, title, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    return con


def _row_to_article(row: sqlite3.Row | tuple[Any, ...]) -> Article:
    aid, path, source_id, title, body, date, date_source, url, metadata = row[:9]
    return Article(
        id=aid,
        title=title,
        body=body,
        path=path,
        source_id=source_id,
        date=dt.date.fromisoformat(date) if date else None,
        date_source=date_source,
        url=url,
        metadata=json.loads(metadata),
    )


class Store(FaissMirror):
    """One index directory. Readers may open it while a writer holds the lock."""

    def __init__(self, root: Path, con: sqlite3.Connection) -> None:
        self.root = root
        self.con = con
        self._dense: DenseIndex | None = None
        self._dense_gen: int | None = None
        self._table: ChunkTable | None = None
        self._next_chunk: int | None = None
        self._lock_fd: int | None = None
        self.db_path: Path = root

    @property
    def uid(self) -> str:
        return self.db_path.stem.removeprefix("store-")

    def publish(self) -> None:
        """Make this database the live one for its directory (atomic)."""
        tmp = self.root / (POINTER + ".tmp")
        tmp.write_text(self.db_path.name + "\n", encoding="utf-8")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / POINTER)

    def remove_stale_files(self) -> None:
        """Delete databases and FAISS files that ``CURRENT`` does not name (hold the lock)."""
        live = (self.root / POINTER).read_text(encoding="utf-8").strip()
        keep = live.removeprefix("store-").removesuffix(".sqlite")
        for path in self.root.glob("store-*"):
            if keep not in path.name:
                path.unlink(missing_ok=True)

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, *, create: bool) -> Store | None:
        """Open the live database of ``root``; with ``create``, start an empty one if none."""
        pointer = root / POINTER
        if pointer.exists():
            db = root / pointer.read_text(encoding="utf-8").strip()
            if not db.exists():
                raise StoreCorrupt(
                    f"the index at {root} names a missing database {db.name}; "
                    f"rebuild it with `askarchive index PATH --rebuild --index {root}`"
                )
        elif create:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreCorrupt(
                    f"cannot create the index folder {root} ({exc.strerror}); "
                    "choose another folder with --index"
                ) from exc
            db = cls.new_database_path(root)
        else:
            return None
        store = cls.open_file(root, db)
        if not pointer.exists():
            store.publish()
        return store

    @staticmethod
    def new_database_path(root: Path) -> Path:
        return root / f"store-{uuid.uuid4().hex}.sqlite"

    @classmethod
    def open_file(cls, root: Path, db: Path) -> Store:
        try:
            con = _connect(db)
            con.executescript(_SCHEMA)
            store = cls(root, con)
            store.db_path = db
            store.manifest()  # touches the schema: fails fast on a file that is not ours
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(
                f"the index at {root} cannot be read ({exc}); "
                f"rebuild it with `askarchive index PATH --rebuild --index {root}`"
            ) from exc
        return store

    def close(self) -> None:
        self.unlock()
        self.con.close()

    # -- manifest -------------------------------------------------------------------------
    def manifest(self) -> dict[str, str]:
        return dict(self.con.execute("SELECT key, value FROM manifest").fetchall())

    def init_manifest(self, model: str, dim: int, settings: dict[str, int]) -> None:
        values = {
            "schema_version": str(SCHEMA_VERSION),
            "model": model,
            "dim": str(dim),
            "generation": "0",
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **{k: str(v) for k, v in settings.items()},
        }
        with self.transaction():
            self.con.executemany("INSERT OR REPLACE INTO manifest VALUES (?, ?)", values.items())

    def check_manifest(self, model: str, dim: int, settings: dict[str, int]) -> None:
        m = self.manifest()
        fix = f"rebuild it with `askarchive index PATH --rebuild --index {self.root}`"
        if m.get("schema_version") != str(SCHEMA_VERSION):
            raise StoreMismatch(
                f"the index at {self.root} has format version {m.get('schema_version')}, "
                f"this askarchive reads version {SCHEMA_VERSION}; {fix}"
            )
        if m.get("model") != model or m.get("dim") != str(dim):
            raise StoreMismatch(
                f"the index at {self.root} was built with model {m.get('model')!r} "
                f"({m.get('dim')} dims), not {model!r}; pass --model {m.get('model')} or {fix}"
            )
        for key, value in settings.items():
            if m.get(key) != str(value):
                raise StoreMismatch(
                    f"the index at {self.root} was built with {key}={m.get(key)}, "
                    f"not {value}; {fix}"
                )

    def roots(self) -> list[Path]:
        """The folders and files given to ``index`` (absolute), in the order first given."""
        row = self.con.execute("SELECT value FROM manifest WHERE key='roots'").fetchone()
        return [Path(p) for p in json.loads(row[0])] if row else []

    def add_roots(self, paths: Iterable[Path]) -> None:
        """Remember ``paths`` (absolute) as indexed roots, so paths can be shown relative to
        the folder they were indexed from. Commits at once; not part of the FAISS generation."""
        known = [str(p) for p in self.roots()]
        fresh = [str(p) for p in paths if str(p) not in known]
        if not fresh:
            return
        value = json.dumps(list(dict.fromkeys(known + fresh)), ensure_ascii=False)
        with self.transaction():
            self.con.execute("INSERT OR REPLACE INTO manifest VALUES ('roots', ?)", (value,))

    @property
    def generation(self) -> int:
        row = self.con.execute("SELECT value FROM manifest WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    # -- locking --------------------------------------------------------------------------
    def lock(self) -> None:
        import fcntl

        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreBusy(
                f"another `askarchive index` is writing to {self.root}; "
                "wait for it to finish, then run the command again"
            ) from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN IMMEDIATE")
        self._next_chunk = None
        try:
            yield
            if self._next_chunk is not None:
                self.con.execute(
                    "INSERT OR REPLACE INTO manifest VALUES ('last_chunk_id', ?)",
                    (str(self._next_chunk - 1),),
                )
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
            row = self.con.execute(
                "SELECT value FROM manifest WHERE key='last_chunk_id'"
            ).fetchone()
            top = self.con.execute("SELECT MAX(id) FROM chunks").fetchone()[0] or 0
            self._next_chunk = max(int(top), int(row[0]) if row else 0) + 1
        cid = self._next_chunk
        self._next_chunk += 1
        return cid

    def bump_generation(self) -> int:
        """Call inside a write transaction."""
        gen = self.generation + 1
        self.con.execute("UPDATE manifest SET value=? WHERE key='generation'", (str(gen),))
        return gen

    # -- files ----------------------------------------------------------------------------
    def known_files(self) -> dict[str, tuple[int, int]]:
        rows = self.con.execute("SELECT path, size, mtime_ns FROM files")
        return {p: (s, m) for p, s, m in rows}

    def set_file(self, path: str, size: int, mtime_ns: int) -> None:
        self.con.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", (path, size, mtime_ns))

    def forget_file(self, path: str) -> None:
        self.con.execute("DELETE FROM files WHERE path=?", (path,))

    def article_hashes(self, path: str) -> dict[str, str]:
        rows = self.con.execute("SELECT id, content_hash FROM articles WHERE path=?", (path,))
        return dict(rows.fetchall())

    def article_ids_for_path(self, path: str) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT id FROM articles WHERE path=?", (path,))]

    # -- writing --------------------------------------------------------------------------
    def delete_articles(self, ids: Iterable[str]) -> list[int]:
        """Delete articles with their chunks and keyword rows; return the removed chunk ids."""
        removed: list[int] = []
        for aid in ids:
            rows = self.con.execute("SELECT id FROM chunks WHERE article_id=?", (aid,)).fetchall()
            chunk_ids = [r[0] for r in rows]
            self.con.executemany("DELETE FROM chunks_fts WHERE rowid=?", [(c,) for c in chunk_ids])
            self.con.execute("DELETE FROM chunks WHERE article_id=?", (aid,))
            self.con.execute("DELETE FROM articles WHERE id=?", (aid,))
            removed.extend(chunk_ids)
        return removed

    def insert_article(
        self, article: Article, content_hash: str, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> list[int]:
        self.con.execute(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article.id,
                article.path,
                article.source_id,
                article.title,
                article.body,
                article.date.isoformat() if article.date else None,
                article.date_source,
                article.url,
                json.dumps(article.metadata, ensure_ascii=False),
                content_hash,
            ),
        )
        ids: list[int] = []
        for chunk, vec in zip(chunks, vectors, strict=True):
            cid = self._new_chunk_id()
            self.con.execute(
                "INSERT INTO chunks (id, article_id, seq, start, end, tokens, vector) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    cid,
                    article.id,
                    chunk.seq,
                    chunk.start,
                    chunk.end,
                    chunk.tokens,
                    np.asarray(vec, dtype=np.float32).tobytes(),
                ),
            )
            self.con.execute(
                "INSERT INTO chunks_fts (rowid, text, title) VALUES (?, ?, ?)",
                (cid, chunk.text, article.title),
            )
            ids.append(cid)
        return ids

    def wipe(self) -> None:
        """Empty every table (used to restart an interrupted rebuild)."""
        for table in ("chunks_fts", "chunks", "articles", "files"):
            self.con.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    # -- reading --------------------------------------------------------------------------
    def article(self, article_id: str) -> Article | None:
        row = self.con.execute(
            "SELECT id, path, source_id, title, body, date, date_source, url, metadata "
            "FROM articles WHERE id=?",
            (article_id,),
        ).fetchone()
        return _row_to_article(row) if row else None

    def counts(self) -> tuple[int, int]:
        a = self.con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        c = self.con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(a), int(c)

    def date_range(self) -> tuple[dt.date | None, dt.date | None]:
        lo, hi = self.con.execute("SELECT MIN(date), MAX(date) FROM articles").fetchone()
        return (
            dt.date.fromisoformat(lo) if lo else None,
            dt.date.fromisoformat(hi) if hi else None,
        )

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.iterdir() if p.is_file())

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        ids: list[int] = []
        blobs: list[bytes] = []
        for cid, blob in self.con.execute("SELECT id, vector FROM chunks ORDER BY id"):
            ids.append(cid)
            blobs.append(blob)
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
        vecs = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dim)
        return np.asarray(ids, dtype=np.int64), vecs

    def vectors_for(self, chunk_ids: Sequence[int], dim: int) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for i in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[i : i + 500])
            marks = ",".join("?" * len(part))
            sql = f"SELECT id, vector FROM chunks WHERE id IN ({marks})"  # noqa: S608
            for cid, blob in self.con.execute(sql, part):
                out[cid] = np.frombuffer(blob, dtype=np.float32, count=dim)
        return out
