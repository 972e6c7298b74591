"""Opening one store database: its schema, the writer's and the reader's connections, and the
checks that refuse a file that is not a whole SQLite database before SQLite touches it."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from askarchive.store.folder import damaged

SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"

SCHEMA = """
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
CREATE INDEX IF NOT EXISTS articles_day ON articles(id, date);
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


def connect(path: Path) -> sqlite3.Connection:
    """The writer's connection; creates the file and the tables if missing."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        con.executescript(SCHEMA)
    except BaseException:
        con.close()
        raise
    return con


def connect_memory() -> sqlite3.Connection:
    """An empty database in memory with the store's tables."""
    con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    con.executescript(SCHEMA)
    return con


def file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def stat_key(path: Path) -> tuple[int, int, int] | None:
    """What tells one version of a file from the next: inode, size, modification time."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def wal_path(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def connect_readonly(path: Path) -> tuple[sqlite3.Connection, bool]:
    """A connection that cannot write and creates no file; also says if it is ``immutable``.

    While a writer works (or after a crash) the ``-wal`` and ``-shm`` files exist, and a plain
    read-only connection shares them and sees each commit (SQLite updates its read marks in
    ``-shm``). A cleanly closed database has neither file, and SQLite would create both to read
    it in WAL mode; it is opened ``immutable`` instead, which reads the file as it is.
    ``Store.stale`` tells when a writer has touched the database since.
    """
    wal_size = file_size(wal_path(path))
    shm = path.with_name(path.name + "-shm")
    immutable = wal_size is None or (wal_size == 0 and not shm.exists())
    uri = path.absolute().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")
    con = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
    try:
        con.execute("PRAGMA query_only=ON")
    except BaseException:
        con.close()
        raise
    return con, immutable


def check_database_file(root: Path, db: Path) -> None:
    """Refuse a file that cannot be a whole SQLite database, before SQLite opens (or fills) it."""
    try:
        st = db.stat()
        with open(db, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise damaged(root, f"its database {db.name} cannot be read ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise damaged(root, f"its database {db.name} is not a file")
    if st.st_size == 0:
        raise damaged(root, f"its database {db.name} is empty")
    page = int.from_bytes(head[16:18], "big") if len(head) == 100 else 0
    page = 65536 if page == 1 else page
    if not head.startswith(_SQLITE_MAGIC) or page < 512 or page & (page - 1):
        raise damaged(root, f"its database {db.name} is not a SQLite database")
    pages = int.from_bytes(head[28:32], "big")
    header_count_valid = head[24:28] == head[92:96]
    wal = file_size(wal_path(db))
    if st.st_size % page or (
        header_count_valid and not wal and st.st_size < pages * page
    ):  # with a -wal, newer pages may live there: SQLite itself checks
        raise damaged(root, f"its database {db.name} is truncated")


def quick_check(con: sqlite3.Connection) -> str:
    """SQLite's verdict after reading every page: "ok", or what is wrong."""
    try:
        return str(con.execute("PRAGMA quick_check(1)").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        return str(exc)
