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

Mode = Literal["hybrid", "dense", "keyword"]
MODES: tuple[str, ...] = ("hybrid", "dense", "keyword")
RRF_K = 60
# Cosine above which two passages of different articles count as the same wire story.
DUPLICATE_COSINE = 0.95

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves did say said tell told""".split()
)
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
    def dense(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
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

    def keyword(self, query: str, n: int, where: str, args: list[object]) -> list[tuple[int, float]]:
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
        if mode in ("hybrid", "dense") or qvec is not None:
            if qvec is None:
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
        hits = self._hits(order)
        vectors = self.store.vectors_for(order, self.embedder.dim)

        chosen: list[tuple[_Hit, list[Citation]]] = []
        per: dict[str, int] = {}
        chosen_vecs: list[np.ndarray] = []
        for cid in order:
            hit = hits.get(cid)
            if hit is None:
                continue
            if per.get(hit.article_id, 0) >= per_article:
                continue
            vec = vectors.get(cid)
            if collapse_duplicates and vec is not None and chosen_vecs:
                sims = np.stack(chosen_vecs) @ vec
                j = int(np.argmax(sims))
                if sims[j] >= DUPLICATE_COSINE and chosen[j][0].article_id != hit.article_id:
                    dup = _citation(hit)
                    if all(d.article_id != dup.article_id for d in chosen[j][1]):
                        chosen[j][1].append(dup)
                    continue
            per[hit.article_id] = per.get(hit.article_id, 0) + 1
            chosen.append((hit, []))
            chosen_vecs.append(vec if vec is not None else np.zeros(self.embedder.dim, np.float32))
            if len(chosen) >= k:
                break

        out: list[Passage] = []
        for (hit, dups), vec in zip(chosen, chosen_vecs, strict=True):
            sim = float(vec @ qvec) if qvec is not None else None
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


def _citation(hit: _Hit) -> Citation:
    return Citation(hit.article_id, hit.title, hit.date, hit.path, hit.url, hit.start, hit.end)
