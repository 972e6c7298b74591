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
is read-only and creates or changes no file (see ``_connect_readonly``). A store that cannot be
read raises ``StoreCorrupt`` naming ``--rebuild``; the rebuild then moves the damaged files into a
``damaged-<time>`` folder (``move_aside``) instead of deleting them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import stat
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from askarchive.errors import StoreBusy, StoreCorrupt, StoreMismatch
from askarchive.models import Article, Chunk
from askarchive.store.dense import LOCK_NAME, FaissMirror

if TYPE_CHECKING:
    from askarchive.store.dense import ChunkTable, DenseIndex

SCHEMA_VERSION = 1
POINTER = "CURRENT"
DAMAGED_PREFIX = "damaged-"
_DB_NAME = re.compile(r"store-[0-9A-Za-z_-]{1,64}\.sqlite")
_SQLITE_MAGIC = b"SQLite format 3\x00"

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


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _connect_readonly(path: Path) -> tuple[sqlite3.Connection, bool]:
    """A connection that cannot write and creates no file; also says if it is ``immutable``.

    While a writer works (or after a crash) the ``-wal`` and ``-shm`` files exist, and a plain
    read-only connection shares them and sees each commit (SQLite updates its read marks in
    ``-shm``). A cleanly closed database has neither file, and SQLite would create both to read
    it in WAL mode; it is opened ``immutable`` instead, which reads the file as it is.
    ``Store.stale`` tells when a writer has touched the database since.
    """
    wal = path.with_name(path.name + "-wal")
    shm = path.with_name(path.name + "-shm")
    wal_size = _size(wal)
    immutable = wal_size is None or (wal_size == 0 and not shm.exists())
    uri = path.absolute().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")
    con = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
    try:
        con.execute("PRAGMA query_only=ON")
    except BaseException:
        con.close()
        raise
    return con, immutable


def _damaged(root: Path, reason: str) -> StoreCorrupt:
    return StoreCorrupt(
        f"the index at {root} is damaged: {reason}; "
        f"rebuild it with `askarchive index PATH --rebuild --index {root}`",
        reason=reason,
    )


def _check_database_file(root: Path, db: Path) -> None:
    """Refuse a file that cannot be a whole SQLite database, before SQLite opens (or fills) it."""
    try:
        st = db.stat()
        with open(db, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise _damaged(root, f"its database {db.name} cannot be read ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise _damaged(root, f"its database {db.name} is not a file")
    if st.st_size == 0:
        raise _damaged(root, f"its database {db.name} is empty")
    page = int.from_bytes(head[16:18], "big") if len(head) == 100 else 0
    page = 65536 if page == 1 else page
    if not head.startswith(_SQLITE_MAGIC) or page < 512 or page & (page - 1):
        raise _damaged(root, f"its database {db.name} is not a SQLite database")
    pages = int.from_bytes(head[28:32], "big")
    header_count_valid = head[24:28] == head[92:96]
    wal = _size(db.with_name(db.name + "-wal"))
    if st.st_size % page or (
        header_count_valid and not wal and st.st_size < pages * page
    ):  # with a -wal, newer pages may live there: SQLite itself checks
        raise _damaged(root, f"its database {db.name} is truncated")


def lock_folder(root: Path) -> int:
    """Take the one-writer lock of ``root``; return the descriptor (closing it releases it)."""
    import fcntl

    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreBusy(
            f"another `askarchive index` is writing to {root}; "
            "wait for it to finish, then run the command again"
        ) from None
    return fd


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
        self._faiss_bad: set[Path] = set()
        self._immutable = False
        self._opened_as: tuple[int, int, int] | None = None
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
        live = self.live_database(self.root)
        if live is None:
            return
        keep = live.stem.removeprefix("store-")
        for path in self.root.glob("store-*"):
            if keep not in path.name:
                path.unlink(missing_ok=True)

    @staticmethod
    def move_aside(root: Path, keep: Path) -> Path:
        """Move the files of a damaged store into a new ``damaged-<time>`` folder of ``root``.

        Every ``store-*`` file except those of the database ``keep`` goes, with a copy of
        ``CURRENT`` (which ``publish`` then replaces). Nothing is deleted; a file ``CURRENT``
        names outside the folder is never touched. Hold the lock.
        """
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        dest = root / f"{DAMAGED_PREFIX}{stamp}"
        n = 1
        while True:
            try:
                dest.mkdir()
                break
            except FileExistsError:
                n += 1
                dest = root / f"{DAMAGED_PREFIX}{stamp}-{n}"
        pointer = root / POINTER
        if pointer.is_file() and not pointer.is_symlink():
            (dest / POINTER).write_bytes(pointer.read_bytes())
        elif pointer.exists() or pointer.is_symlink():
            os.rename(pointer, dest / POINTER)  # a folder or link: publish could not replace it
        keep_id = keep.stem.removeprefix("store-")
        for path in sorted(root.glob("store-*")):
            if keep_id not in path.name:
                os.rename(path, dest / path.name)
        return dest

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, *, create: bool) -> Store | None:
        """Open the live database of ``root``.

        Without ``create`` the database is opened read-only and no file is created or changed;
        None if there is no index. With ``create``, it is opened for writing, and an empty one
        is started if there is none. A damaged store raises ``StoreCorrupt`` naming --rebuild.
        """
        db = cls.live_database(root)
        if db is not None:
            return cls.open_file(root, db, readonly=not create)
        if not create:
            return None
        cls.make_folder(root)
        store = cls.open_file(root, cls.new_database_path(root))
        store.publish()
        return store

    @staticmethod
    def make_folder(root: Path) -> None:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreCorrupt(
                f"cannot create the index folder {root} ({exc.strerror}); "
                "choose another folder with --index"
            ) from exc

    @staticmethod
    def live_database(root: Path) -> Path | None:
        """The database ``CURRENT`` names, checked to be a store file inside ``root``.

        None when there is no ``CURRENT``; ``StoreCorrupt`` when it names no such file.
        """
        pointer = root / POINTER
        try:
            raw = pointer.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None  # no index here (or a file where the folder should be)
        except OSError as exc:
            raise _damaged(root, f"its {POINTER} file cannot be read ({exc.strerror})") from exc
        try:
            name = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise _damaged(root, f"its {POINTER} file holds no database name") from None
        if not name:
            raise _damaged(root, f"its {POINTER} file is empty")
        if not _DB_NAME.fullmatch(name):
            raise _damaged(
                root, f"its {POINTER} file names {name[:80]!r}, not a database in the index folder"
            )
        db = root / name
        if not db.exists():
            raise _damaged(root, f"its {POINTER} file names a missing database {name}")
        if db.resolve().parent != root.resolve():
            raise _damaged(root, f"its database {name} links to a file outside the index folder")
        return db

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
            verdict = str(store.con.execute("PRAGMA quick_check(1)").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            verdict = str(exc)
        finally:
            store.close()
        if verdict == "ok":
            return None
        verdict = " ".join(verdict.split())[:120]
        return f"its database {store.db_path.name} fails SQLite's check ({verdict})"

    @classmethod
    def placeholder(cls, root: Path) -> Store:
        """An empty store in memory, standing in for a damaged one until a rebuild replaces it."""
        con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        con.executescript(_SCHEMA)
        store = cls(root, con)
        store.db_path = root / "store-damaged.sqlite"  # never opened: names nothing on disk
        return store

    def stale(self) -> bool:
        """True when this read-only view may no longer match its file: it was opened
        ``immutable`` and a writer has since opened (or changed) the database."""
        if not self._immutable:
            return False
        wal = self.db_path.with_name(self.db_path.name + "-wal")
        return wal.exists() or _stat_key(self.db_path) != self._opened_as

    @staticmethod
    def new_database_path(root: Path) -> Path:
        return root / f"store-{uuid.uuid4().hex}.sqlite"

    @classmethod
    def open_file(cls, root: Path, db: Path, *, readonly: bool = False) -> Store:
        """Open ``db`` (read-only: never created or changed; else created if missing)."""
        if readonly or db.exists():
            _check_database_file(root, db)
        con: sqlite3.Connection | None = None
        try:
            opened_as = _stat_key(db)
            if readonly:
                con, immutable = _connect_readonly(db)
            else:
                con, immutable = _connect(db), False
                con.executescript(_SCHEMA)
            store = cls(root, con)
            store.db_path = db
            store._immutable, store._opened_as = immutable, opened_as
            store.manifest()  # touches the schema: fails fast on a file that is not ours
        except sqlite3.DatabaseError as exc:
            if con is not None:
                con.close()
            raise _damaged(root, f"its database {db.name} cannot be read ({exc})") from exc
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
        self._lock_fd = lock_folder(self.root)

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

    # -- file reports (indexer.py) ----------------------------------------------------------
    # What was skipped in (or warned about) each file the last time it was read, keyed by the
    # same size and mtime as its `files` row and written in the same transaction, so a run that
    # does not re-read an unchanged file can still list what is missing from it. The table is
    # made on first write, so read-only opens of older databases never need it.
    def _has_file_reports(self) -> bool:
        row = self.con.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='file_reports'"
        ).fetchone()
        return row is not None

    def file_reports(
        self,
    ) -> dict[str, tuple[int, int, list[tuple[str, str]], list[tuple[str, str]]]]:
        """path -> (size, mtime_ns, skipped, warnings); each entry is (path, reason)."""
        if not self._has_file_reports():
            return {}
        rows = self.con.execute("SELECT path, size, mtime_ns, skipped, warnings FROM file_reports")
        return {
            p: (s, m, [tuple(x) for x in json.loads(sk)], [tuple(x) for x in json.loads(wa)])
            for p, s, m, sk, wa in rows
        }

    def set_file_report(
        self,
        path: str,
        size: int,
        mtime_ns: int,
        skipped: Sequence[tuple[str, str]],
        warnings: Sequence[tuple[str, str]],
    ) -> None:
        """Call inside a write transaction, with ``set_file`` for the same path."""
        if not skipped and not warnings:
            self.forget_file_report(path)
            return
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS file_reports (path TEXT PRIMARY KEY, size INTEGER NOT "
            "NULL, mtime_ns INTEGER NOT NULL, skipped TEXT NOT NULL, warnings TEXT NOT NULL)"
        )
        self.con.execute(
            "INSERT OR REPLACE INTO file_reports VALUES (?, ?, ?, ?, ?)",
            (
                path,
                size,
                mtime_ns,
                json.dumps([list(x) for x in skipped], ensure_ascii=False),
                json.dumps([list(x) for x in warnings], ensure_ascii=False),
            ),
        )

    def forget_file_report(self, path: str) -> None:
        if self._has_file_reports():
            self.con.execute("DELETE FROM file_reports WHERE path=?", (path,))
