"""Keyword search: BM25 over the SQLite FTS5 table, with a bounded amount of work per query.

FTS5 scores every row that matches any query term, at about 2 µs a row, so one common word
("price", "government") can put 30,000 rows behind a query and 60-150 ms on it at 100k chunks.
When the query's terms together match more than ``ROW_BUDGET`` rows, only rows holding one of
its rarer terms (added rarest first while they fit the budget) are scored, but every row is still
scored by BM25 over *all* the terms. The rows left out hold only the query's most common words,
which rarely rank in the top 50; if too few rows come back, the full query runs after all.
"""

from __future__ import annotations

import re
import sqlite3

from askarchive.text import STOPWORDS

ROW_BUDGET = 4000
# FTS5 bm25() column weights: body text, then the title repeated on every chunk.
WEIGHTS = "1.0, 0.3"

_TERM = re.compile(r"\w+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """Content words of a query, lowercased, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _TERM.findall(query.lower()):
        if word not in STOPWORDS and word not in seen:
            seen[word] = None
    return list(seen)


def _match(terms: list[str]) -> str:
    # Every term quoted: user text can never be read as FTS5 syntax.
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


class KeywordSearch:
    """FTS5 queries on one connection, with row counts per term cached between queries."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self._rows: dict[str, int] = {}
        self._rows_at = 0  # chunk count when the cached row counts were taken

    def rows_matching(self, term: str, chunks: int) -> int:
        """How many chunks hold ``term``: only ever used to order terms, so kept until the
        archive grows or shrinks by a tenth."""
        if abs(chunks - self._rows_at) > self._rows_at // 10:
            self._rows.clear()
            self._rows_at = chunks
        if term not in self._rows:
            sql = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?"
            self._rows[term] = int(self.con.execute(sql, (_match([term]),)).fetchone()[0])
        return self._rows[term]

    def selective_terms(self, terms: list[str], chunks: int) -> list[str] | None:
        """The rarer terms whose rows fit the budget, or None when the whole query does."""
        if chunks <= ROW_BUDGET:
            return None  # the whole archive fits the budget: no need to count
        counts = {t: self.rows_matching(t, chunks) for t in terms}
        if sum(counts.values()) <= ROW_BUDGET:
            return None
        chosen: list[str] = []
        total = 0
        for term in sorted(terms, key=counts.__getitem__):
            if chosen and total + counts[term] > ROW_BUDGET:
                break
            chosen.append(term)
            total += counts[term]
        return chosen

    def search(
        self,
        query: str,
        n: int,
        where: str = "",
        args: list[object] | None = None,
        *,
        chunks: int = 0,
        need: int = 0,
    ) -> list[tuple[int, float]]:
        """Top ``n`` (chunk id, BM25 score) for ``query``, filtered by the SQL ``where``.

        ``chunks`` (the archive's size) enables the row budget; ``need`` is how many rows the
        caller must get whenever they exist, which re-runs a budgeted query unbudgeted.
        """
        terms = query_terms(query)
        if not terms:
            return []
        selective = self.selective_terms(terms, chunks) if chunks else None
        hits = self._run(terms, selective, n, where, list(args or []))
        if selective is not None and len(hits) < min(need, n):
            hits = self._run(terms, None, n, where, list(args or []))
        return hits

    def _run(
        self,
        terms: list[str],
        selective: list[str] | None,
        n: int,
        where: str,
        args: list[object],
    ) -> list[tuple[int, float]]:
        clauses = ["chunks_fts MATCH ?"]
        params: list[object] = [_match(terms)]
        if selective is not None:
            # The unary plus keeps SQLite from handing the IN list to FTS5 as a rowid lookup
            # (one seek per candidate, far slower): FTS5 walks the full match and the IN test
            # drops rows before bm25() is computed for them.
            clauses.append("+f.rowid IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?)")
            params.append(_match(selective))
        joins = ""
        if where:
            joins = "JOIN chunks c ON c.id = f.rowid JOIN articles a ON a.id = c.article_id "
            clauses.append(where)
            params.extend(args)
        sql = (
            f"SELECT f.rowid, bm25(chunks_fts, {WEIGHTS}) AS s FROM chunks_fts f {joins}"
            f"WHERE {' AND '.join(clauses)} ORDER BY s LIMIT ?"
        )
        params.append(n)
        return [(int(r[0]), -float(r[1])) for r in self.con.execute(sql, params)]
