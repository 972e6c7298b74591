"""Rows the indexer writes and the facade reads: files seen, articles with their chunks, and the
report of what each file skipped. Every function takes the connection; ``Store`` wraps them."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from askarchive.models import Article, Chunk

# (size, mtime_ns, skipped, warnings) of one file; each skipped or warning is (path, reason)
FileReport = tuple[int, int, list[tuple[str, str]], list[tuple[str, str]]]


# -- files ----------------------------------------------------------------------------------------
def known_files(con: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    rows = con.execute("SELECT path, size, mtime_ns FROM files")
    return {p: (s, m) for p, s, m in rows}


def set_file(con: sqlite3.Connection, path: str, size: int, mtime_ns: int) -> None:
    con.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", (path, size, mtime_ns))


def forget_file(con: sqlite3.Connection, path: str) -> None:
    con.execute("DELETE FROM files WHERE path=?", (path,))


def article_hashes(con: sqlite3.Connection, path: str) -> dict[str, str]:
    rows = con.execute("SELECT id, content_hash FROM articles WHERE path=?", (path,))
    return dict(rows.fetchall())


def article_ids_for_path(con: sqlite3.Connection, path: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT id FROM articles WHERE path=?", (path,))]


# -- articles and chunks --------------------------------------------------------------------------
def delete_articles(con: sqlite3.Connection, ids: Iterable[str]) -> list[int]:
    """Delete articles with their chunks and keyword rows; return the removed chunk ids."""
    removed: list[int] = []
    for aid in ids:
        rows = con.execute("SELECT id FROM chunks WHERE article_id=?", (aid,)).fetchall()
        chunk_ids = [r[0] for r in rows]
        con.executemany("DELETE FROM chunks_fts WHERE rowid=?", [(c,) for c in chunk_ids])
        con.execute("DELETE FROM chunks WHERE article_id=?", (aid,))
        con.execute("DELETE FROM articles WHERE id=?", (aid,))
        removed.extend(chunk_ids)
    return removed


def insert_article(
    con: sqlite3.Connection,
    article: Article,
    content_hash: str,
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    new_chunk_id: Callable[[], int],
) -> list[int]:
    """Insert one article, its chunks (with vectors) and their keyword rows; return chunk ids."""
    con.execute(
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
        cid = new_chunk_id()
        con.execute(
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
        con.execute(
            "INSERT INTO chunks_fts (rowid, text, title) VALUES (?, ?, ?)",
            (cid, chunk.text, article.title),
        )
        ids.append(cid)
    return ids


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


def article(con: sqlite3.Connection, article_id: str) -> Article | None:
    row = con.execute(
        "SELECT id, path, source_id, title, body, date, date_source, url, metadata "
        "FROM articles WHERE id=?",
        (article_id,),
    ).fetchone()
    return _row_to_article(row) if row else None


def counts(con: sqlite3.Connection) -> tuple[int, int]:
    """(articles, chunks)."""
    a = con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    c = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    return int(a), int(c)


def date_range(con: sqlite3.Connection) -> tuple[dt.date | None, dt.date | None]:
    lo, hi = con.execute("SELECT MIN(date), MAX(date) FROM articles").fetchone()
    return (
        dt.date.fromisoformat(lo) if lo else None,
        dt.date.fromisoformat(hi) if hi else None,
    )


# -- file reports ---------------------------------------------------------------------------------
# What was skipped in (or warned about) each file the last time it was read, keyed by the same
# size and mtime as its `files` row and written in the same transaction, so a run that does not
# re-read an unchanged file can still list what is missing from it. The table is made on first
# write, so read-only opens of older databases never need it.
def _has_file_reports(con: sqlite3.Connection) -> bool:
    row = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='file_reports'"
    ).fetchone()
    return row is not None


def file_reports(con: sqlite3.Connection) -> dict[str, FileReport]:
    if not _has_file_reports(con):
        return {}
    rows = con.execute("SELECT path, size, mtime_ns, skipped, warnings FROM file_reports")
    return {
        p: (s, m, [tuple(x) for x in json.loads(sk)], [tuple(x) for x in json.loads(wa)])
        for p, s, m, sk, wa in rows
    }


def set_file_report(
    con: sqlite3.Connection,
    path: str,
    size: int,
    mtime_ns: int,
    skipped: Sequence[tuple[str, str]],
    warnings: Sequence[tuple[str, str]],
) -> None:
    if not skipped and not warnings:
        forget_file_report(con, path)
        return
    con.execute(
        "CREATE TABLE IF NOT EXISTS file_reports (path TEXT PRIMARY KEY, size INTEGER NOT "
        "NULL, mtime_ns INTEGER NOT NULL, skipped TEXT NOT NULL, warnings TEXT NOT NULL)"
    )
    con.execute(
        "INSERT OR REPLACE INTO file_reports VALUES (?, ?, ?, ?, ?)",
        (
            path,
            size,
            mtime_ns,
            json.dumps([list(x) for x in skipped], ensure_ascii=False),
            json.dumps([list(x) for x in warnings], ensure_ascii=False),
        ),
    )


def forget_file_report(con: sqlite3.Connection, path: str) -> None:
    if _has_file_reports(con):
        con.execute("DELETE FROM file_reports WHERE path=?", (path,))
