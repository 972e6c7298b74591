"""Hybrid retrieval: dense (FAISS) and keyword (SQLite FTS5 BM25), fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds the names and numbers that a small embedding model
blurs. Date and source filters are applied inside both searches (an id selector for FAISS, a SQL
join for FTS5), so ``k`` hits come back whenever ``k`` matching passages exist.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from askarchive.embedding import Embedder
from askarchive.models import Citation, DateWindow, Passage
from askarchive.store import Store
from askarchive.text import STOPWORDS

Mode = Literal["hybrid", "dense", "keyword"]
MODES: tuple[str, ...] = ("hybrid", "dense", "keyword")
RRF_K = 60
# Two articles are one wire story retold when their mean chunk vectors are this close and they
# were published within DUPLICATE_DAYS of each other. On the sample archive, paraphrased wire
# repeats score 0.96 and distinct stories on one topic at most 0.75.
DUPLICATE_COSINE = 0.90
DUPLICATE_DAYS = 3

_TERM = re.compile(r"\w+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """Content words of a query, lowercased, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _TERM.findall(query.lower()):
        if word not in STOPWORDS and word not in seen:
            seen[word] = None
    return list(seen)


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

    def _allowed_ids(self, where: str, args: list[object]) -> np.ndarray | None:
        if not where:
            return None
        sql = f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}"
        rows = self.store.con.execute(sql, args).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    # -- the two searches ---------------------------------------------------------------------
    def dense(
        self, qvec: np.ndarray, n: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        import faiss

        index = self.store.faiss_index()
        if index.ntotal == 0 or (allowed is not None and len(allowed) == 0):
            return []
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
            n = min(n, len(allowed))
        sims, ids = index.search(qvec.reshape(1, -1).astype(np.float32), n, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0]

    def keyword(
        self, query: str, n: int, where: str, args: list[object]
    ) -> list[tuple[int, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        # Every term quoted: user text can never be read as FTS5 syntax.
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        if where:
            sql = (
                "SELECT f.rowid, bm25(chunks_fts, 1.0, 0.3) AS s FROM chunks_fts f "
                "JOIN chunks c ON c.id = f.rowid JOIN articles a ON a.id = c.article_id "
                f"WHERE chunks_fts MATCH ? AND {where} ORDER BY s LIMIT ?"
            )
            params: list[object] = [match, *args, n]
        else:
            sql = (
                "SELECT rowid, bm25(chunks_fts, 1.0, 0.3) AS s FROM chunks_fts "
                "WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?"
            )
            params = [match, n]
        return [(int(r[0]), -float(r[1])) for r in self.store.con.execute(sql, params)]

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
        where, args = self._filter_sql(window, source)
        allowed = self._allowed_ids(where, args)
        if allowed is not None and len(allowed) == 0:
            return []
        # Over-fetch: the per-article cap and duplicate collapsing both discard candidates.
        n = max(50, k * 10)
        dense: list[tuple[int, float]] = []
        if mode in ("hybrid", "dense") and qvec is None:
            qvec = self.embedder.encode([query])[0]
        if mode in ("hybrid", "dense"):
            assert qvec is not None
            dense = self.dense(qvec, n, allowed)
        keyword = self.keyword(query, n, where, args) if mode in ("hybrid", "keyword") else []

        fused: dict[int, float] = {}
        dense_rank = {cid: r for r, (cid, _) in enumerate(dense, 1)}
        keyword_rank = {cid: r for r, (cid, _) in enumerate(keyword, 1)}
        if mode == "hybrid":
            for ranks in (dense_rank, keyword_rank):
                for cid, r in ranks.items():
                    fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + r)
        else:
            for cid, s in dense or keyword:
                fused[cid] = s
        order = sorted(fused, key=lambda c: -fused[c])
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
                    window=window,
                    duplicates=tuple(dups),
                    dense_rank=dense_rank.get(hit.chunk_id),
                    keyword_rank=keyword_rank.get(hit.chunk_id),
                    similarity=sim,
                )
            )
        return out

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
