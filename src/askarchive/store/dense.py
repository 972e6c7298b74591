"""The FAISS side of a store: a search structure derived from the vectors kept in SQLite.

The structure is an HNSW graph (``IndexIDMap2(IndexHNSWFlat)``) keyed by chunk id. HNSW cannot
delete, so deleted chunks stay in the graph as masked nodes (``mirror.py`` rebuilds it once they
are too many). Chunk ids are never reused (see ``Store``), so a masked id never comes back
meaning other text.

Search is exact whenever at most ``EXACT_LIMIT`` vectors are eligible (every small archive, and
narrow date windows in big ones), and goes through the graph otherwise. If a filtered graph
search finds fewer than asked while more exist, it falls back to the exact scan: a date window
never silently returns fewer passages than it holds.

A big graph keeps 8-bit codes (``IndexHNSWSQ``, one byte a dimension) instead of a float32 copy
of every vector: SQLite already holds the exact vectors, so the FAISS file and memory shrink to
about a third. Its candidates (from the graph or from an exact scan of the codes) are re-scored
with the exact vectors read back from SQLite, so scores and order among them are exact. Smaller
graphs stay ``IndexHNSWFlat``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import faiss


HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
# Search breadth: at 256 the graph returned 97.4% of the exact top 10 for real questions over
# 102k chunk vectors, in about 2 ms (benchmarks/retrieval.py, BENCHMARKS.md).
HNSW_EF_SEARCH = 256
# An exact scan of 20k vectors takes a few milliseconds; up to there, exact beats approximate.
EXACT_LIMIT = 20_000
# The walk of a compact graph: on 1M replicated chunks (benchmarks/scale.py), where every
# source chunk has 161 near-copies, 256 found 0.88 of the exact top 10's source chunks, 512
# 0.95 and 1024 0.98, for 3 ms more (an exact scan of the codes, re-scored, finds all).
COMPACT_EF_SEARCH = 1024
# Codes rank approximately: a compact graph fetches this many more candidates than asked and
# re-scores them exactly, so the top ``n`` it returns are (nearly always) the exact top ``n``.
RESCORE_EXTRA = 0.5
# Rows per step of a build from SQLite or of a scan of codes, so neither holds every vector twice.
BUILD_BATCH = 50_000


class DenseIndex:
    """An HNSW graph over chunk vectors with the bookkeeping exact search and deletions need."""

    def __init__(self, index: faiss.IndexIDMap2) -> None:
        import faiss

        self.index = index
        self._storage = faiss.downcast_index(faiss.downcast_index(index.index).storage)
        self.compact = isinstance(self._storage, faiss.IndexScalarQuantizer)
        self.ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        self.live = np.ones(len(self.ids), dtype=bool)
        # Exact vectors by chunk id (the store's ``vectors_for``): a compact graph re-scores
        # its candidates with them. Without it, its scores are those of the codes.
        self.exact_vectors: Callable[[list[int]], dict[int, np.ndarray]] | None = None
        if self.compact:
            # An 8-bit code c of dimension j stands for vmin[j] + (c + 0.5) / 255 * vdiff[j].
            trained = faiss.vector_to_array(self._storage.sq.trained)
            self._vmin, self._vdiff = trained[: index.d], trained[index.d :]
        self._reorder()

    @classmethod
    def empty(cls, dim: int, sample: np.ndarray | None = None) -> DenseIndex:
        """An empty graph: float32 storage, or with ``sample`` (vectors to learn each
        dimension's range from) the compact 8-bit one."""
        import faiss

        if sample is None:
            graph = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        else:
            qtype = faiss.ScalarQuantizer.QT_8bit
            graph = faiss.IndexHNSWSQ(dim, qtype, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            graph.train(np.ascontiguousarray(sample, dtype=np.float32))
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.hnsw.efSearch = HNSW_EF_SEARCH if sample is None else COMPACT_EF_SEARCH
        return cls(faiss.IndexIDMap2(graph))

    @staticmethod
    def usable(index: faiss.Index) -> bool:
        import faiss

        inner = faiss.downcast_index(getattr(index, "index", None))
        if isinstance(inner, faiss.IndexHNSWSQ):
            sq = faiss.downcast_index(inner.storage).sq
            return isinstance(index, faiss.IndexIDMap2) and sq.qtype == sq.QT_8bit
        return isinstance(index, faiss.IndexIDMap2) and isinstance(inner, faiss.IndexHNSWFlat)

    def _reorder(self) -> None:
        self._order = np.argsort(self.ids, kind="stable")
        self._sorted = self.ids[self._order]

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dead(self) -> int:
        return int(len(self.live) - np.count_nonzero(self.live))

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Positions in the graph of those ``ids`` it holds alive (others are left out)."""
        if not len(self._sorted) or not len(ids):
            return np.zeros(0, dtype=np.int64)
        at = np.searchsorted(self._sorted, ids).clip(0, len(self._sorted) - 1)
        found = self._sorted[at] == ids
        pos = self._order[at[found]]
        return pos[self.live[pos]]

    def vectors(self) -> np.ndarray:
        """The stored float32 vectors of a flat graph, or the 8-bit codes of a compact one,
        without a copy (valid until the next ``add``)."""
        import faiss

        n, d = self.ntotal, self.index.d
        if n == 0:
            return np.zeros((0, d), dtype=np.uint8 if self.compact else np.float32)
        if self.compact:
            return faiss.rev_swig_ptr(self._storage.codes.data(), n * d).reshape(n, d)
        return faiss.rev_swig_ptr(self._storage.get_xb(), n * d).reshape(n, d)

    def _scores(self, q: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Inner products of ``q`` with the stored vectors at ``pos``."""
        if not self.compact:
            return self.vectors()[pos] @ q
        # Decoded in closed form: q . (vmin + (c + 0.5) / 255 * vdiff) = c . w + offset.
        w = (q * self._vdiff / 255).astype(np.float32)
        offset = float(q @ self._vmin) + 0.5 * float(w.sum())
        codes = self.vectors()
        out = np.empty(len(pos), dtype=np.float32)
        for i in range(0, len(pos), BUILD_BATCH):  # bounded temporaries
            part = pos[i : i + BUILD_BATCH]
            out[i : i + len(part)] = codes[part].astype(np.float32) @ w + offset
        return out

    # -- changes ------------------------------------------------------------------------------
    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        self.add_batches([(np.asarray(ids, dtype=np.int64), vectors)])

    def add_batches(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        """Add (ids, vectors) pairs; the id bookkeeping is redone once at the end."""
        added = []
        for ids, vectors in batches:
            if len(ids):
                self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
                added.append(np.asarray(ids, dtype=np.int64))
        if added:
            self.ids = np.concatenate([self.ids, *added])
            self.live = np.concatenate([self.live, np.ones(len(self.ids) - len(self.live), bool)])
            self._reorder()

    def remove(self, ids: Sequence[int] | np.ndarray) -> None:
        self.live[self.positions(np.asarray(ids, dtype=np.int64))] = False

    def reconcile(self, live_ids: np.ndarray) -> np.ndarray:
        """Mask what SQLite no longer holds; return the live ids the graph is missing."""
        self.live = np.isin(self.ids, live_ids, assume_unique=True)
        return live_ids[~np.isin(live_ids, self.ids, assume_unique=True)]

    # -- search -------------------------------------------------------------------------------
    def search(
        self, qvec: np.ndarray, n: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """Top ``n`` (chunk id, cosine) among ``allowed`` ids (``None``: every live chunk)."""
        eligible = int(np.count_nonzero(self.live)) if allowed is None else len(allowed)
        if eligible == 0 or n < 1:
            return []
        n = min(n, eligible)
        rescore = self.compact and self.exact_vectors is not None
        fetch = min(eligible, n + int(n * RESCORE_EXTRA)) if rescore else n
        q = np.ascontiguousarray(qvec, dtype=np.float32).reshape(1, -1)
        if eligible <= EXACT_LIMIT:
            hits = self._exact(q[0], fetch, allowed)
        else:
            hits = self._graph(q, fetch, allowed)
            # A selective filter can starve the graph walk; the exact scan is always complete.
            hits = hits if len(hits) >= n else self._exact(q[0], fetch, allowed)
        return self._rescore(q[0], hits)[:n] if rescore else hits

    def _rescore(self, q: np.ndarray, hits: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """``hits`` scored with the exact vectors, best first (a hit SQLite no longer holds
        keeps its approximate score)."""
        assert self.exact_vectors is not None
        exact = self.exact_vectors([cid for cid, _ in hits])
        scored = [(cid, float(exact[cid] @ q) if cid in exact else s) for cid, s in hits]
        return sorted(scored, key=lambda hit: -hit[1])

    def _exact(self, q: np.ndarray, n: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        if allowed is None:
            pos = np.flatnonzero(self.live)
            if self.compact:
                scores = self._scores(q, pos)
            else:
                scores = self.vectors() @ q
                scores = scores[pos] if len(pos) < self.ntotal else scores
        else:
            pos = self.positions(allowed)
            scores = self._scores(q, pos)
        if not len(pos):
            return []
        n = min(n, len(pos))
        top = np.argpartition(-scores, n - 1)[:n] if n < len(pos) else np.arange(len(pos))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[pos[i]]), float(scores[i])) for i in top]

    def _graph(self, q: np.ndarray, n: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        import faiss

        members = self.ids[self.live] if allowed is None else allowed
        bitmap = None
        if allowed is not None or self.dead:
            top = int(max(members.max(), self.ids.max())) + 1
            bits = np.zeros(top, dtype=bool)
            bits[members] = True
            bitmap = np.packbits(bits, bitorder="little")
        ef = COMPACT_EF_SEARCH if self.compact else HNSW_EF_SEARCH
        params = faiss.SearchParametersHNSW(efSearch=max(ef, n))
        if bitmap is not None:
            # The selector only points into ``bitmap``; the local keeps it alive for the search.
            params.sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        # One query walks the graph on one thread anyway; an OpenMP team only adds start-up and
        # spinning, which cost several ms when the other core is busy (with the keyword query).
        with one_thread():
            sims, ids = self.index.search(q, n, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """FAISS on the calling thread alone (OpenMP's setting is per thread, so others keep theirs)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)
