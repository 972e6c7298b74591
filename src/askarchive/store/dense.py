"""The FAISS side of a store: a search structure derived from the vectors kept in SQLite.

The structure is an HNSW graph (``IndexIDMap2(IndexHNSWFlat)``) keyed by chunk id. A FAISS file
is named by the database's uuid and the generation it matches. An index of an older generation
(in memory, or the newest file) is brought up to date from SQLite: missing chunks are added and
deleted ones masked. Anything unreadable is rebuilt (in memory; a reader never writes) and the
next save by a writer replaces the bad file atomically. HNSW cannot delete, so deleted chunks stay
in the graph as masked nodes until they make up ``DEAD_LIMIT`` of it; then the graph is rebuilt.
Chunk ids are never reused (see ``Store``), so a masked id never comes back meaning other text.

Search is exact whenever at most ``EXACT_LIMIT`` vectors are eligible (every small archive, and
narrow date windows in big ones), and goes through the graph otherwise. If a filtered graph
search finds fewer than asked while more exist, it falls back to the exact scan: a date window
never silently returns fewer passages than it holds.

``FaissMirror`` is mixed into ``Store``, which provides the connection and the manifest.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import faiss

LOCK_NAME = "index.lock"
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
# Search breadth: at 256 the graph returned 97.4% of the exact top 10 for real questions over
# 102k chunk vectors, in about 2 ms (benchmarks/retrieval.py, BENCHMARKS.md).
HNSW_EF_SEARCH = 256
# An exact scan of 20k vectors takes a few milliseconds; up to there, exact beats approximate.
EXACT_LIMIT = 20_000
DEAD_LIMIT = 0.25


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


class DenseIndex:
    """An HNSW graph over chunk vectors with the bookkeeping exact search and deletions need."""

    def __init__(self, index: faiss.IndexIDMap2) -> None:
        import faiss

        self.index = index
        self._flat = faiss.downcast_index(faiss.downcast_index(index.index).storage)
        self.ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        self.live = np.ones(len(self.ids), dtype=bool)
        self._reorder()

    @classmethod
    def empty(cls, dim: int) -> DenseIndex:
        import faiss

        graph = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.hnsw.efSearch = HNSW_EF_SEARCH
        return cls(faiss.IndexIDMap2(graph))

    @staticmethod
    def usable(index: faiss.Index) -> bool:
        import faiss

        inner = getattr(index, "index", None)
        return isinstance(index, faiss.IndexIDMap2) and isinstance(
            faiss.downcast_index(inner), faiss.IndexHNSWFlat
        )

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
        """The stored vectors, without a copy (valid until the next ``add``)."""
        import faiss

        n, d = self.ntotal, self.index.d
        if n == 0:
            return np.zeros((0, d), dtype=np.float32)
        return faiss.rev_swig_ptr(self._flat.get_xb(), n * d).reshape(n, d)

    # -- changes ------------------------------------------------------------------------------
    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self.ids = np.concatenate([self.ids, ids])
        self.live = np.concatenate([self.live, np.ones(len(ids), dtype=bool)])
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
        q = np.ascontiguousarray(qvec, dtype=np.float32).reshape(1, -1)
        if eligible <= EXACT_LIMIT:
            return self._exact(q[0], n, allowed)
        hits = self._graph(q, n, allowed)
        # A selective filter can starve the graph walk; the exact scan is always complete.
        return hits if len(hits) >= n else self._exact(q[0], n, allowed)

    def _exact(self, q: np.ndarray, n: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        if allowed is None:
            pos = np.flatnonzero(self.live)
            scores = self.vectors() @ q
            scores = scores[pos] if len(pos) < self.ntotal else scores
        else:
            pos = self.positions(allowed)
            scores = self.vectors()[pos] @ q
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
        params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, n))
        if bitmap is not None:
            # The selector only points into ``bitmap``; the local keeps it alive for the search.
            params.sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        # One query walks the graph on one thread anyway; an OpenMP team only adds start-up and
        # spinning, which cost several ms when the other core is busy (with the keyword query).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            sims, ids = self.index.search(q, n, params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0]


def _looks_whole(path: Path) -> bool:
    """A cheap check, without loading it, that ``path`` is a whole ``IndexIDMap2`` over an HNSW
    graph as ``faiss.write_index`` writes it: the header's count matches the id list at the end.
    Catches empty, truncated and foreign files; ``_load`` still rebuilds anything it cannot read.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(41)
            if len(head) < 41 or head[:4] != b"IxM2" or head[37:41] != b"IHNf":
                return False
            ntotal = int.from_bytes(head[8:16], "little", signed=True)
            tail = size - 8 * ntotal - 8
            if ntotal < 0 or tail < 41:
                return False
            fh.seek(tail)
            return int.from_bytes(fh.read(8), "little") == ntotal
    except OSError:
        return False


class FaissMirror:
    """Keeps the in-memory dense index and chunk table in step with the database generation."""

    root: Path
    con: Any
    _dense: DenseIndex | None
    _dense_gen: int | None
    _table: ChunkTable | None
    _lock_fd: int | None
    _faiss_bad: set[Path]

    if TYPE_CHECKING:  # provided by Store

        @property
        def uid(self) -> str: ...

        @property
        def generation(self) -> int: ...

        def manifest(self) -> dict[str, str]: ...

        def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]: ...

        def vectors_for(self, chunk_ids: Sequence[int], dim: int) -> dict[int, np.ndarray]: ...

    def _faiss_path(self, gen: int) -> Path:
        # ".hnsw" tells these files from the flat indexes of earlier versions, which are
        # never loaded (and are deleted by the next save).
        return self.root / f"store-{self.uid}-{gen}.hnsw.faiss"

    @property
    def dim(self) -> int:
        return int(self.manifest()["dim"])

    def chunk_table(self) -> ChunkTable:
        """The live chunk ids and their dates for the current generation (cached per generation)."""
        gen = self.generation
        if self._table is not None and self._table.generation == gen:
            return self._table
        self.con.execute("BEGIN")
        try:
            gen = self.generation  # re-read inside the snapshot the rows come from
            rows = self.con.execute(
                "SELECT c.id, a.date FROM chunks c JOIN articles a ON a.id = c.article_id "
                "ORDER BY c.id"
            ).fetchall()
            articles = self.con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        finally:
            self.con.execute("COMMIT")
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        days = np.array([r[1] or "NaT" for r in rows], dtype="datetime64[D]")
        self._table = ChunkTable(gen, ids, days, int(articles))
        return self._table

    def writer_active(self) -> bool:
        """True while another connection (any process, this one included) holds the write lock."""
        import fcntl

        if self._lock_fd is not None:
            return False
        try:
            fd = os.open(self.root / LOCK_NAME, os.O_RDONLY)  # readers create no file
        except FileNotFoundError:
            return False  # no writer has ever run here
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the shared lock if we got it
        return False

    def dense_index(self) -> DenseIndex:
        """The dense index for the current generation: kept, loaded, updated or rebuilt."""
        table = self.chunk_table()
        if self._dense is not None and self._dense_gen == table.generation:
            return self._dense
        dense = self._load(table.generation) or self._dense or self._load_latest()
        if dense is None:
            dense = self._build()
        missing = dense.reconcile(table.ids)
        if dense.dead > DEAD_LIMIT * dense.ntotal:
            dense = self._build()
            missing = dense.reconcile(table.ids)
        if len(missing):
            found = self.vectors_for(missing.tolist(), self.dim)
            keep = [int(i) for i in missing if int(i) in found]
            if keep:
                dense.add(keep, np.stack([found[i] for i in keep]))
        self._dense, self._dense_gen = dense, table.generation
        return dense

    def _load(self, gen: int) -> DenseIndex | None:
        import faiss

        path = self._faiss_path(gen)
        if not path.exists():
            return None
        try:
            index = faiss.read_index(str(path))
        except Exception:  # noqa: BLE001 - any unreadable file: rebuilt from the source of truth
            self._faiss_bad.add(path)
            return None
        if not DenseIndex.usable(index):
            self._faiss_bad.add(path)
            return None
        return DenseIndex(index)

    def _load_latest(self) -> DenseIndex | None:
        """The newest saved index of this database, whatever its generation.

        Safe to bring up to date because chunk ids are never reused: an id it holds either
        still means the same text or no longer exists.
        """
        gens = []
        for path in self.root.glob(f"store-{self.uid}-*.hnsw.faiss"):
            tail = path.name.removesuffix(".hnsw.faiss").rsplit("-", 1)[-1]
            if tail.isdigit():
                gens.append(int(tail))
        for gen in sorted(gens, reverse=True):
            dense = self._load(gen)
            if dense is not None:
                return dense
        return None

    def _build(self) -> DenseIndex:
        dense = DenseIndex.empty(self.dim)
        ids, vecs = self.all_vectors(self.dim)
        dense.add(ids, vecs)
        return dense

    def apply_to_faiss(
        self, added_ids: Sequence[int], vectors: np.ndarray, removed: Sequence[int]
    ) -> None:
        """Mirror one committed transaction into the in-memory index (caller just committed)."""
        dense = self._dense
        if dense is None:
            return
        if removed:
            dense.remove(removed)
        dense.add(added_ids, vectors)
        self._dense_gen = self.generation

    def save_faiss(self) -> None:
        """Write the index for the current generation atomically and drop older files."""
        import faiss

        path = self._faiss_path(self.generation)
        if path.exists() and path not in self._faiss_bad and _looks_whole(path):
            return  # nothing was committed since that file was written for this generation
        dense = self.dense_index()
        if dense.dead > DEAD_LIMIT * max(dense.ntotal, 1):
            dense = self._dense = self._build()
        tmp = path.with_suffix(".faiss.tmp")
        faiss.write_index(dense.index, str(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self._faiss_bad.discard(path)
        for old in self.root.glob(f"store-{self.uid}-*.faiss*"):
            if old != path:
                old.unlink(missing_ok=True)
