"""Keyword search: BM25 over the SQLite FTS5 table, with a bounded amount of work per query.

FTS5 scores every row that matches any query term, at about 2 µs a row, so one common word
("price", "government") can put 30,000 rows behind a query and 60-150 ms on it at 100k chunks.
When the query's terms together match more than ``ROW_BUDGET`` rows, only rows holding one of
its rarer terms (added rarest first while they fit the budget) are scored, but every row is still
scored by BM25 over *all* the terms. The rows left out hold only the query's most common words,
which rarely rank in the top 50; if too few rows come back, the full query runs after all.
From ``SCORE_ALL_UNTIL`` chunks on, a budgeted query also leaves out of the match and the score
the terms held by more than ``COMMON_ROWS`` rows: FTS5 walks every row of every term in a MATCH
(and bm25() walks them again to count them), so at 1M chunks a question's common words cost
0.1-1 s however few rows are kept, while their weight in BM25 is small. Counting a term's rows
stops past ``COMMON_ROWS`` for the same reason.
The FTS5 statements themselves are the store's (``Store.keyword_rows``, ``Store.keyword_top``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from askarchive.text import STOPWORDS, WORD

if TYPE_CHECKING:
    from askarchive.models import DateWindow
    from askarchive.store.sqlite import Store

ROW_BUDGET = 4000
SCORE_ALL_UNTIL = 200_000
# On 1M replicated chunks (benchmarks/scale.py), leaving out terms held by more rows than this
# kept 0.86 of the full query's top 10 at 47 ms (p50, machine loaded), against 0.50 at 25 ms
# with only the budgeted terms and 0.98 at 276 ms with every term.
COMMON_ROWS = 25_000


def query_terms(query: str) -> list[str]:
    """Content words of a query, lowercased, in order, without repeats. Not normalised
    (``text.normalize_term``): the FTS5 index stems query and text alike (Porter)."""
    seen: dict[str, None] = {}
    for word in WORD.findall(query.lower()):
        if word not in STOPWORDS and word not in seen:
            seen[word] = None
    return list(seen)


class KeywordSearch:
    """BM25 queries on one store, with row counts per term cached between queries."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._rows: dict[str, int] = {}
        self._rows_at = 0  # chunk count when the cached row counts were taken

    def rows_matching(self, term: str, chunks: int, *, exact: bool = False) -> int:
        """How many chunks hold ``term``, counted up to ``COMMON_ROWS + 1`` unless ``exact``:
        only ever used to order terms, so kept until the archive grows or shrinks by a tenth."""
        if abs(chunks - self._rows_at) > self._rows_at // 10:
            self._rows.clear()
            self._rows_at = chunks
        cap = COMMON_ROWS + 1
        if term not in self._rows or (exact and self._rows[term] == cap):
            self._rows[term] = self.store.keyword_rows(term, None if exact else cap)
        return self._rows[term]

    def selective_terms(self, terms: list[str], chunks: int) -> list[str] | None:
        """The rarer terms whose rows fit the budget, or None when the whole query does."""
        if chunks <= ROW_BUDGET:
            return None  # the whole archive fits the budget: no need to count
        counts = {t: self.rows_matching(t, chunks) for t in terms}
        if sum(counts.values()) <= ROW_BUDGET:
            return None
        if min(counts.values()) > COMMON_ROWS:  # only common words: the rarest goes alone
            counts = {t: self.rows_matching(t, chunks, exact=True) for t in terms}
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
        *,
        window: DateWindow | None = None,
        source: str | None = None,
        chunks: int = 0,
        need: int = 0,
    ) -> list[tuple[int, float]]:
        """Top ``n`` (chunk id, BM25 score) for ``query`` among chunks published within
        ``window`` from files whose path holds ``source``.

        ``chunks`` (the archive's size) enables the row budget; ``need`` is how many rows the
        caller must get whenever they exist, which re-runs a budgeted query unbudgeted.
        """
        terms = query_terms(query)
        if not terms:
            return []
        selective = self.selective_terms(terms, chunks) if chunks else None
        top = self.store.keyword_top
        if selective is not None and chunks >= SCORE_ALL_UNTIL:
            scored = [
                t for t in terms if t in selective or self.rows_matching(t, chunks) <= COMMON_ROWS
            ]
            within = None if len(scored) == len(selective) else selective
            hits = top(scored, n, within=within, window=window, source=source)
        else:
            hits = top(terms, n, within=selective, window=window, source=source)
        if selective is not None and len(hits) < min(need, n):
            hits = top(terms, n, window=window, source=source)
        return hits
