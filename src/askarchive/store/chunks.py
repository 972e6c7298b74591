"""Chunk reads for search: the live chunk table, vectors, passage rows, article centroids, the
date and source filters, and BM25 over the FTS5 keyword table.

Lookups by a list of ids go through ``in_batches``: SQLite caps the number of ``?`` in one
statement (999 in older builds), so long lists are asked for ``BATCH`` at a time.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from askarchive.models import DateWindow

BATCH = 500
# FTS5 bm25() column weights: body text, then the title repeated on every chunk.
KEYWORD_WEIGHTS = "1.0, 0.3"


def in_batches(con: sqlite3.Connection, sql: str, keys: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql`` for every key; ``sql`` holds one ``{marks}`` where the list goes."""
    for i in range(0, len(keys), BATCH):
        part = list(keys[i : i + BATCH])
        yield from con.execute(sql.format(marks=",".join("?" * len(part))), part)


@dataclass(frozen=True, slots=True)
class ChunkTable:
    """Every live chunk id of one generation, sorted, with its article's publication day.

    Read once per generation, it turns a date window into an id list in numpy instead of a
    join over the whole archive for every query.
    """

    generation: int
    ids: np.ndarray  # int64, ascending
    days: np.ndarray  # datetime64[D], NaT for undated articles
    articles: int

    def in_window(self, since: dt.date | None, until: dt.date | None) -> np.ndarray:
        """Ids of chunks published within [since, until]; undated chunks match no window."""
        keep = ~np.isnat(self.days)
        if since is not None:
            keep &= self.days >= np.datetime64(since, "D")
        if until is not None:
            keep &= self.days <= np.datetime64(until, "D")
        return self.ids[keep]

    @classmethod
    def read(cls, con: sqlite3.Connection, generation: int) -> ChunkTable:
        """Read the table; call inside a read transaction that ``generation`` was read in."""
        # Unordered, so SQLite can answer from two covering indexes (chunks_article and
        # articles_day) without reading a single vector or article body: at 1M chunks that is
        # the difference between about a second and half a minute. Sorted here instead.
        # A store last written by an older version may lack articles_day (a writer adds it).
        covered = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type='index' AND name='articles_day'"
        ).fetchone()
        hint = " INDEXED BY articles_day" if covered else ""
        cur = con.execute(
            f"SELECT c.id, a.date FROM chunks c JOIN articles a{hint} ON a.id = c.article_id"
        )
        day_of: dict[str | None, int] = {}  # a few thousand distinct days, parsed once each
        id_parts: list[np.ndarray] = []
        day_parts: list[np.ndarray] = []
        while rows := cur.fetchmany(100_000):
            id_parts.append(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
            for _, day in rows:
                if day not in day_of:
                    day_of[day] = int(np.datetime64(day or "NaT", "D").astype(np.int64))
            days = (day_of[r[1]] for r in rows)
            day_parts.append(np.fromiter(days, dtype=np.int64, count=len(rows)))
        articles = con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        ids = np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.int64)
        days = np.concatenate(day_parts) if day_parts else np.zeros(0, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        return cls(generation, ids[order], days[order].view("datetime64[D]"), int(articles))


@dataclass(frozen=True, slots=True)
class ChunkHit:
    """One chunk as a search result shows it: its text, where it sits, and its article."""

    chunk_id: int
    article_id: str
    start: int
    end: int
    text: str
    title: str
    date: dt.date | None
    path: str
    url: str | None


# -- vectors --------------------------------------------------------------------------------------
def all_vectors(con: sqlite3.Connection, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Every chunk id (ascending) with its vector."""
    ids: list[int] = []
    blobs: list[bytes] = []
    for cid, blob in con.execute("SELECT id, vector FROM chunks ORDER BY id"):
        ids.append(cid)
        blobs.append(blob)
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
    vecs = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dim)
    return np.asarray(ids, dtype=np.int64), vecs


def vector_batches(
    con: sqlite3.Connection, dim: int, size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every chunk id (ascending) with its vector, ``size`` rows at a time: building a dense
    index of 1M chunks never holds all their vectors at once."""
    last = -1
    while True:
        rows = con.execute(
            "SELECT id, vector FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, size)
        ).fetchall()
        if not rows:
            return
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(-1, dim)
        last = int(ids[-1])
        yield ids, vecs


def chunks_after(con: sqlite3.Connection, chunk_id: int) -> tuple[int, int]:
    """(chunks with an id above ``chunk_id``, all chunks), by their primary key."""
    after = con.execute("SELECT COUNT(*) FROM chunks WHERE id > ?", (chunk_id,)).fetchone()[0]
    total = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    return int(after), int(total)


def vectors_for(
    con: sqlite3.Connection, chunk_ids: Sequence[int], dim: int
) -> dict[int, np.ndarray]:
    sql = "SELECT id, vector FROM chunks WHERE id IN ({marks})"
    return {
        cid: np.frombuffer(blob, dtype=np.float32, count=dim)
        for cid, blob in in_batches(con, sql, chunk_ids)
    }


def article_centroids(
    con: sqlite3.Connection, article_ids: Sequence[str], dim: int
) -> dict[str, np.ndarray]:
    """Mean chunk vector of each article, normalised: a cheap whole-article fingerprint."""
    sums: dict[str, np.ndarray] = {}
    sql = "SELECT article_id, vector FROM chunks WHERE article_id IN ({marks})"
    for aid, blob in in_batches(con, sql, article_ids):
        vec = np.frombuffer(blob, dtype=np.float32, count=dim)
        sums[aid] = sums[aid] + vec if aid in sums else vec.copy()
    return {aid: v / (np.linalg.norm(v) or 1.0) for aid, v in sums.items()}


# -- passages -------------------------------------------------------------------------------------
def hits(con: sqlite3.Connection, chunk_ids: Sequence[int]) -> dict[int, ChunkHit]:
    """The rows of these chunks (ids no longer stored are left out)."""
    sql = (
        "SELECT c.id, c.article_id, c.start, c.end, "
        "substr(a.body, c.start + 1, c.end - c.start), a.title, a.date, a.path, a.url "
        "FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})"
    )
    out: dict[int, ChunkHit] = {}
    for cid, aid, start, end, text, title, date, path, url in in_batches(con, sql, chunk_ids):
        day = dt.date.fromisoformat(date) if date else None
        out[cid] = ChunkHit(cid, aid, start, end, text, title, day, path, url)
    return out


# -- filters --------------------------------------------------------------------------------------
def _filter_sql(window: DateWindow | None, source: str | None) -> tuple[str, list[object]]:
    """A WHERE condition on ``articles a`` for the window's days and the source's path part."""
    clauses: list[str] = []
    args: list[object] = []
    if window is not None and window.since is not None:
        clauses.append("a.date >= ?")
        args.append(window.since.isoformat())
    if window is not None and window.until is not None:
        clauses.append("a.date <= ?")
        args.append(window.until.isoformat())
    if source:
        clauses.append("instr(lower(a.path), ?) > 0")
        args.append(source.lower())
    return (" AND ".join(clauses), args)


def ids_from_source(con: sqlite3.Connection, source: str) -> np.ndarray:
    """Ids of chunks whose article's path holds ``source`` (any case), in no set order."""
    where, args = _filter_sql(None, source)
    sql = f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}"
    rows = con.execute(sql, args).fetchall()
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


# -- keywords -------------------------------------------------------------------------------------
def _match(terms: Sequence[str]) -> str:
    # Every term quoted: user text can never be read as FTS5 syntax.
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def keyword_rows(con: sqlite3.Connection, term: str, cap: int | None = None) -> int:
    """How many chunks hold ``term``; with ``cap``, counting stops there (FTS5 walks a term's
    rows one by one, and a common word has hundreds of thousands in a big archive)."""
    if cap is None:
        sql = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?"
        return int(con.execute(sql, (_match([term]),)).fetchone()[0])
    sql = "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)"
    return int(con.execute(sql, (_match([term]), cap)).fetchone()[0])


def keyword_top(
    con: sqlite3.Connection,
    terms: Sequence[str],
    n: int,
    *,
    within: Sequence[str] | None = None,
    window: DateWindow | None = None,
    source: str | None = None,
) -> list[tuple[int, float]]:
    """Top ``n`` (chunk id, BM25 score, higher is better) of chunks holding any of ``terms``,
    scored over all of them. With ``within``, only chunks holding one of those are scored."""
    clauses = ["chunks_fts MATCH ?"]
    params: list[object] = [_match(terms)]
    if within is not None:
        # The unary plus keeps SQLite from handing the IN list to FTS5 as a rowid lookup
        # (one seek per candidate, far slower): FTS5 walks the full match and the IN test
        # drops rows before bm25() is computed for them.
        clauses.append("+f.rowid IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?)")
        params.append(_match(within))
    where, args = _filter_sql(window, source)
    joins = ""
    if where:
        joins = "JOIN chunks c ON c.id = f.rowid JOIN articles a ON a.id = c.article_id "
        clauses.append(where)
        params.extend(args)
    sql = (
        f"SELECT f.rowid, bm25(chunks_fts, {KEYWORD_WEIGHTS}) AS s FROM chunks_fts f {joins}"
        f"WHERE {' AND '.join(clauses)} ORDER BY s LIMIT ?"
    )
    params.append(n)
    return [(int(r[0]), -float(r[1])) for r in con.execute(sql, params)]
