"""Hybrid retrieval: dense (FAISS) and keyword (SQLite FTS5 BM25), fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds the names and numbers that a small embedding model
blurs. Date and source filters are applied inside both searches (an id list for FAISS, a join
for FTS5), so ``k`` hits come back whenever ``k`` matching passages exist. Every row is read
through the ``Store``; this module holds no SQL.

One search runs in steps: the filters become an id list (``Store.filtered_chunk_ids``), the two
searches run side by side (``_candidates``), their lists are fused (``_fuse``) and, for a date
hint, re-weighted by day (``_rank_by_date``); ``_pick`` walks the ranking under the per-article
cap, folding wire repeats together, and ``_passages`` turns what it chose into passages.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from askarchive.embed.embedding import Embedder
from askarchive.models import Citation, DateWindow, Passage
from askarchive.search.datehint import boost, widened
from askarchive.search.keyword import KeywordSearch, query_terms
from askarchive.store.chunks import ChunkHit
from askarchive.store.sqlite import Store
from askarchive.text import DUPLICATE_ARTICLE_COSINE

__all__ = ["MODES", "Mode", "Retriever", "query_terms"]

Mode = Literal["hybrid", "dense", "keyword"]
MODES: tuple[str, ...] = ("hybrid", "dense", "keyword")
# Reciprocal rank fusion: score = sum of weight / (RRF_K + rank). k=10 and a keyword weight of
# 1.5 won the sweep in benchmarks/fusion.py on SQuAD-dev (BM25 is the stronger single signal
# there); BENCHMARKS.md has the table.
RRF_K = 10
DENSE_WEIGHT = 1.0
KEYWORD_WEIGHT = 1.5
# Two articles are one wire story retold when their mean chunk vectors are
# DUPLICATE_ARTICLE_COSINE close (text.py) and they were published within DUPLICATE_DAYS of
# each other.
DUPLICATE_DAYS = 3


@dataclass(slots=True)
class _Fused:
    """The candidates of one search, best first once sorted: fused scores, and the rank each
    had in the dense and keyword lists (for the passages to report)."""

    scores: dict[int, float]
    dense_rank: dict[int, int]
    keyword_rank: dict[int, int]

    def order(self) -> list[int]:
        return sorted(self.scores, key=lambda c: -self.scores[c])


def _fuse(dense: list[tuple[int, float]], keyword: list[tuple[int, float]], mode: Mode) -> _Fused:
    """Reciprocal rank fusion of the two lists in hybrid mode; the one list's scores otherwise."""
    fused: dict[int, float] = {}
    dense_rank = {cid: r for r, (cid, _) in enumerate(dense, 1)}
    keyword_rank = {cid: r for r, (cid, _) in enumerate(keyword, 1)}
    if mode == "hybrid":
        for ranks, weight in ((dense_rank, DENSE_WEIGHT), (keyword_rank, KEYWORD_WEIGHT)):
            for cid, r in ranks.items():
                fused[cid] = fused.get(cid, 0.0) + weight / (RRF_K + r)
    else:
        for cid, s in dense or keyword:
            fused[cid] = s
    return _Fused(fused, dense_rank, keyword_rank)


class Retriever:
    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self.keywords = KeywordSearch(store)
        self._pool: ThreadPoolExecutor | None = None

    # -- the two searches ---------------------------------------------------------------------
    def dense(
        self, qvec: np.ndarray, n: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        return self.store.dense_index().search(qvec, n, allowed)

    def keyword(
        self,
        query: str,
        n: int,
        window: DateWindow | None = None,
        source: str | None = None,
        need: int = 0,
        chunks: int | None = None,
    ) -> list[tuple[int, float]]:
        if chunks is None:
            chunks = len(self.store.chunk_table().ids)
        return self.keywords.search(
            query, n, window=window, source=source, chunks=chunks, need=need
        )

    def _background(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="askarchive-kw")
        return self._pool

    def _candidates(
        self,
        query: str,
        qvec: np.ndarray | None,
        n: int,
        allowed: np.ndarray | None,
        window: DateWindow | None,
        source: str | None,
        mode: Mode,
        k: int,
    ) -> tuple[np.ndarray | None, list[tuple[int, float]], list[tuple[int, float]]]:
        """Run the searches ``mode`` asks for: (query vector, dense hits, keyword hits)."""
        need = k if mode == "keyword" else 0
        if mode == "keyword":
            return qvec, [], self.keyword(query, n, window, source, need)
        # Brought up to date here, before the keyword thread starts using the connection.
        index = self.store.dense_index()
        if mode == "dense":
            if qvec is None:
                qvec = self.embedder.encode([query])[0]
            return qvec, index.search(qvec, n, allowed), []
        chunks = len(self.store.chunk_table().ids)
        # FTS5 and the model both release the GIL: the keyword query runs on the other core
        # while the question is embedded, which hides most of its cost.
        pending = self._background().submit(self.keyword, query, n, window, source, need, chunks)
        try:
            if qvec is None:
                qvec = self.embedder.encode([query])[0]
            dense = index.search(qvec, n, allowed)
        finally:
            keyword = pending.result()
        return qvec, dense, keyword

    # -- one search, step by step ---------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 5,
        *,
        window: DateWindow | None = None,
        source: str | None = None,
        mode: Mode = "hybrid",
        per_article: int = 2,
        collapse_duplicates: bool = True,
        qvec: np.ndarray | None = None,
    ) -> list[Passage]:
        """The top ``k`` passages. A window whose ``use`` is "hint" ranks; a filter removes.

        A filter read from words (not an explicit since/until) that leaves fewer than ``k``
        passages is widened into a hint, and the passages' window says so.
        """
        hint = window is not None and window.use == "hint"
        args = (k, source, mode, per_article, collapse_duplicates)
        found, qvec = self._search(query, None if hint else window, window, *args, qvec)
        if window is not None and not hint and window.origin != "explicit" and len(found) < k:
            found, _ = self._search(query, None, widened(window, len(found)), *args, qvec)
        return found

    def _search(
        self,
        query: str,
        filtered: DateWindow | None,
        shown: DateWindow | None,
        k: int,
        source: str | None,
        mode: Mode,
        per_article: int,
        collapse_duplicates: bool,
        qvec: np.ndarray | None,
    ) -> tuple[list[Passage], np.ndarray | None]:
        """One search: ``filtered`` removes what lies outside it; ``shown`` is the window the
        passages report and, when it is a hint, ranks them."""
        allowed = self.store.filtered_chunk_ids(filtered, source)
        if allowed is not None and len(allowed) == 0:
            return [], qvec
        hint = shown if shown is not None and shown.use == "hint" else None
        # Over-fetch: the per-article cap and duplicate collapsing both discard candidates,
        # and a date hint reorders them, so it needs a deeper list to reorder.
        n = max(100, k * 20) if hint is not None else max(50, k * 10)
        qvec, dense, keyword = self._candidates(query, qvec, n, allowed, filtered, source, mode, k)
        fused = _fuse(dense, keyword, mode)
        if hint is not None and fused.scores:
            self._rank_by_date(fused.scores, hint)
        chosen = self._pick(fused.order(), k, per_article, collapse_duplicates)
        return self._passages(chosen, fused, qvec, shown), qvec

    def _rank_by_date(self, fused: dict[int, float], hint: DateWindow) -> None:
        """Scale each fused score by how well its article's publication day fits ``hint``."""
        table = self.store.chunk_table()
        cids = np.fromiter(fused, dtype=np.int64, count=len(fused))
        pos = np.clip(np.searchsorted(table.ids, cids), 0, max(0, len(table.ids) - 1))
        known = table.ids[pos] == cids if len(table.ids) else np.zeros(len(cids), dtype=bool)
        days = np.where(known, table.days[pos], np.datetime64("NaT"))
        for cid, factor in zip(cids.tolist(), boost(days, hint).tolist(), strict=True):
            fused[cid] *= factor

    def _pick(
        self, order: list[int], k: int, per_article: int, collapse_duplicates: bool
    ) -> list[tuple[ChunkHit, list[Citation]]]:
        """Walk the ranking: at most ``per_article`` hits per article, wire repeats folded into
        the story they repeat, until ``k`` are chosen."""
        # Rows and article centroids are read block by block in rank order, only as far as the
        # loop below gets: k=100 means up to 2,000 candidates, of which ~k usually suffice.
        hits: dict[int, ChunkHit] = {}
        centroids: dict[str, np.ndarray] = {}
        block = max(64, 2 * k)
        fetched = 0
        chosen: list[tuple[ChunkHit, list[Citation]]] = []
        per: dict[str, int] = {}
        # article id -> the article whose hit stands for it (itself, or the story it repeats)
        leader: dict[str, str] = {}
        for pos, cid in enumerate(order):
            if pos >= fetched:
                new = self.store.hits(order[fetched : fetched + block])
                hits.update(new)
                if collapse_duplicates:
                    wanted = {h.article_id for h in new.values()} - centroids.keys()
                    centroids.update(self.store.article_centroids(wanted, self.embedder.dim))
                fetched += block
            hit = hits.get(cid)
            if hit is None:
                continue
            aid = hit.article_id
            if aid not in leader:
                leader[aid] = _same_story(hit, chosen, centroids) or aid
            if leader[aid] != aid:
                for lead_hit, dups in chosen:
                    known = any(d.article_id == aid for d in dups)
                    if lead_hit.article_id == leader[aid] and not known:
                        dups.append(_citation(hit))
                continue
            if per.get(aid, 0) >= per_article:
                continue
            per[aid] = per.get(aid, 0) + 1
            chosen.append((hit, []))
            if len(chosen) >= k:
                break
        return chosen

    def _passages(
        self,
        chosen: list[tuple[ChunkHit, list[Citation]]],
        fused: _Fused,
        qvec: np.ndarray | None,
        shown: DateWindow | None,
    ) -> list[Passage]:
        """The chosen hits as passages, each with its cosine to the question when known."""
        vectors = self.store.vectors_for([h.chunk_id for h, _ in chosen], self.embedder.dim)
        out: list[Passage] = []
        for hit, dups in chosen:
            vec = vectors.get(hit.chunk_id)
            sim = float(vec @ qvec) if qvec is not None and vec is not None else None
            out.append(
                Passage(
                    text=hit.text,
                    score=fused.scores[hit.chunk_id],
                    article_id=hit.article_id,
                    chunk_id=hit.chunk_id,
                    citation=_citation(hit),
                    window=shown,
                    duplicates=tuple(dups),
                    dense_rank=fused.dense_rank.get(hit.chunk_id),
                    keyword_rank=fused.keyword_rank.get(hit.chunk_id),
                    similarity=sim,
                )
            )
        return out


def _same_story(
    hit: ChunkHit, chosen: list[tuple[ChunkHit, list[Citation]]], centroids: dict[str, np.ndarray]
) -> str | None:
    """The chosen article that ``hit``'s article repeats, if any."""
    mine = centroids.get(hit.article_id)
    if mine is None:
        return None
    for other, _ in chosen:
        theirs = centroids.get(other.article_id)
        if other.article_id == hit.article_id or theirs is None:
            continue
        if hit.date and other.date and abs((hit.date - other.date).days) > DUPLICATE_DAYS:
            continue
        if float(mine @ theirs) >= DUPLICATE_ARTICLE_COSINE:
            return other.article_id
    return None


def _citation(hit: ChunkHit) -> Citation:
    return Citation(hit.article_id, hit.title, hit.date, hit.path, hit.url, hit.start, hit.end)
