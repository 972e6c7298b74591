"""Hybrid retrieval: dense (FAISS) and keyword (SQLite FTS5 BM25), fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds the names and numbers that a small embedding model
blurs. Date and source filters are applied inside both searches (an id list for FAISS, a SQL
join for FTS5), so ``k`` hits come back whenever ``k`` matching passages exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from askarchive.embed.embedding import Embedder
from askarchive.models import Citation, DateWindow, Passage
from askarchive.search.datehint import boost, widened
from askarchive.search.keyword import KeywordSearch, query_terms
from askarchive.store.sqlite import Store

__all__ = ["MODES", "Mode", "Retriever", "query_terms"]

Mode = Literal["hybrid", "dense", "keyword"]
MODES: tuple[str, ...] = ("hybrid", "dense", "keyword")
# Reciprocal rank fusion: score = sum of weight / (RRF_K + rank). k=10 and a keyword weight of
# 1.5 won the sweep in benchmarks/fusion.py on SQuAD-dev (BM25 is the stronger single signal
# there); BENCHMARKS.md has the table.
RRF_K = 10
DENSE_WEIGHT = 1.0
KEYWORD_WEIGHT = 1.5
# Two articles are one wire story retold when their mean chunk vectors are this close and they
# were published within DUPLICATE_DAYS of each other. On the sample archive, paraphrased wire
# repeats score 0.96 and distinct stories on one topic at most 0.75.
DUPLICATE_COSINE = 0.90
DUPLICATE_DAYS = 3


@dataclass(frozen=True, slots=True)
class _Hit:
    chunk_id: int
    article_id: str
    start: int
    end: int
    text: str
    title: str
    date: dt.date | None
    path: str
    url: str | None


class Retriever:
    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self.keywords = KeywordSearch(store.con)
        self._pool: ThreadPoolExecutor | None = None

    # -- filters ------------------------------------------------------------------------------
    @staticmethod
    def _filter_sql(window: DateWindow | None, source: str | None) -> tuple[str, list[object]]:
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

    def allowed_ids(self, window: DateWindow | None, source: str | None) -> np.ndarray | None:
        """Sorted chunk ids passing the filters, or None when nothing is filtered."""
        if window is None and not source:
            return None
        table = self.store.chunk_table()
        ids = table.ids if window is None else table.in_window(window.since, window.until)
        if source:
            where, args = self._filter_sql(None, source)
            sql = f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}"
            rows = self.store.con.execute(sql, args).fetchall()
            picked = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            ids = ids[np.isin(ids, picked)]
        return ids

    # -- the two searches ---------------------------------------------------------------------
    def dense(
        self, qvec: np.ndarray, n: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        return self.store.dense_index().search(qvec, n, allowed)

    def keyword(
        self,
        query: str,
        n: int,
        where: str = "",
        args: list[object] | None = None,
        need: int = 0,
        chunks: int | None = None,
    ) -> list[tuple[int, float]]:
        if chunks is None:
            chunks = len(self.store.chunk_table().ids)
        return self.keywords.search(query, n, where, args, chunks=chunks, need=need)

    def _background(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="askarchive-kw")
        return self._pool

    def _both(
        self,
        query: str,
        qvec: np.ndarray | None,
        n: int,
        allowed: np.ndarray | None,
        where: str,
        args: list[object],
        mode: Mode,
        k: int,
    ) -> tuple[np.ndarray | None, list[tuple[int, float]], list[tuple[int, float]]]:
        """Run the searches ``mode`` asks for: (query vector, dense hits, keyword hits)."""
        need = k if mode == "keyword" else 0
        if mode == "keyword":
            return qvec, [], self.keyword(query, n, where, args, need)
        # Brought up to date here, before the keyword thread starts using the connection.
        index = self.store.dense_index()
        if mode == "dense":
            if qvec is None:
                qvec = self.embedder.encode([query])[0]
            return qvec, index.search(qvec, n, allowed), []
        chunks = len(self.store.chunk_table().ids)
        # FTS5 and the model both release the GIL: the keyword query runs on the other core
        # while the question is embedded, which hides most of its cost.
        pending = self._background().submit(self.keyword, query, n, where, args, need, chunks)
        try:
            if qvec is None:
                qvec = self.embedder.encode([query])[0]
            dense = index.search(qvec, n, allowed)
        finally:
            keyword = pending.result()
        return qvec, dense, keyword

    # -- assembly -----------------------------------------------------------------------------
    def _hits(self, ids: Sequence[int]) -> dict[int, _Hit]:
        out: dict[int, _Hit] = {}
        for i in range(0, len(ids), 500):
            part = list(ids[i : i + 500])
            marks = ",".join("?" * len(part))
            sql = (
                "SELECT c.id, c.article_id, c.start, c.end, "
                "substr(a.body, c.start + 1, c.end - c.start), a.title, a.date, a.path, a.url "
                f"FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})"
            )
            for row in self.store.con.execute(sql, part):
                cid, aid, start, end, text, title, date, path, url = row
                out[cid] = _Hit(
                    cid,
                    aid,
                    start,
                    end,
                    text,
                    title,
                    dt.date.fromisoformat(date) if date else None,
                    path,
                    url,
                )
        return out

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
        where, args = self._filter_sql(filtered, source)
        allowed = self.allowed_ids(filtered, source)
        if allowed is not None and len(allowed) == 0:
            return [], qvec
        hint = shown if shown is not None and shown.use == "hint" else None
        # Over-fetch: the per-article cap and duplicate collapsing both discard candidates,
        # and a date hint reorders them, so it needs a deeper list to reorder.
        n = max(100, k * 20) if hint is not None else max(50, k * 10)
        qvec, dense, keyword = self._both(query, qvec, n, allowed, where, args, mode, k)

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
        if hint is not None and fused:
            self._rank_by_date(fused, hint)
        chosen = self._pick(
            sorted(fused, key=lambda c: -fused[c]), k, per_article, collapse_duplicates
        )

        vectors = self.store.vectors_for([h.chunk_id for h, _ in chosen], self.embedder.dim)
        out: list[Passage] = []
        for hit, dups in chosen:
            vec = vectors.get(hit.chunk_id)
            sim = float(vec @ qvec) if qvec is not None and vec is not None else None
            out.append(
                Passage(
                    text=hit.text,
                    score=fused[hit.chunk_id],
                    article_id=hit.article_id,
                    chunk_id=hit.chunk_id,
                    citation=_citation(hit),
                    window=shown,
                    duplicates=tuple(dups),
                    dense_rank=dense_rank.get(hit.chunk_id),
                    keyword_rank=keyword_rank.get(hit.chunk_id),
                    similarity=sim,
                )
            )
        return out, qvec

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
    ) -> list[tuple[_Hit, list[Citation]]]:
        """Walk the ranking: at most ``per_article`` hits per article, wire repeats folded into
        the story they repeat, until ``k`` are chosen."""
        # Rows and article centroids are read block by block in rank order, only as far as the
        # loop below gets: k=100 means up to 2,000 candidates, of which ~k usually suffice.
        hits: dict[int, _Hit] = {}
        centroids: dict[str, np.ndarray] = {}
        block = max(64, 2 * k)
        fetched = 0
        chosen: list[tuple[_Hit, list[Citation]]] = []
        per: dict[str, int] = {}
        # article id -> the article whose hit stands for it (itself, or the story it repeats)
        leader: dict[str, str] = {}
        for pos, cid in enumerate(order):
            if pos >= fetched:
                new = self._hits(order[fetched : fetched + block])
                hits.update(new)
                if collapse_duplicates:
                    wanted = {h.article_id for h in new.values()} - centroids.keys()
                    centroids.update(self._centroids(wanted))
                fetched += block
            hit = hits.get(cid)
            if hit is None:
                continue
            aid = hit.article_id
            if aid not in leader:
                leader[aid] = self._same_story(hit, chosen, centroids) or aid
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

    def _centroids(self, article_ids: set[str]) -> dict[str, np.ndarray]:
        """Mean chunk vector of each article, normalised: a cheap whole-article fingerprint."""
        sums: dict[str, np.ndarray] = {}
        ids = sorted(article_ids)
        dim = self.embedder.dim
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT article_id, vector FROM chunks WHERE article_id IN ({marks})"
            for aid, blob in self.store.con.execute(sql, part):
                vec = np.frombuffer(blob, dtype=np.float32, count=dim)
                sums[aid] = sums[aid] + vec if aid in sums else vec.copy()
        return {aid: v / (np.linalg.norm(v) or 1.0) for aid, v in sums.items()}

    @staticmethod
    def _same_story(
        hit: _Hit, chosen: list[tuple[_Hit, list[Citation]]], centroids: dict[str, np.ndarray]
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
            if float(mine @ theirs) >= DUPLICATE_COSINE:
                return other.article_id
        return None


def _citation(hit: _Hit) -> Citation:
    return Citation(hit.article_id, hit.title, hit.date, hit.path, hit.url, hit.start, hit.end)
