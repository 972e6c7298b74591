"""A database's dense index in memory and in its FAISS files, kept in step with the database.

A FAISS file is named by the database's uuid and the generation it matches. An index of an older
generation (in memory, or the newest file) is brought up to date from SQLite: missing chunks are
added and deleted ones masked. Anything unreadable is rebuilt (in memory; a reader never writes)
and the next save by a writer replaces the bad file atomically. Once deleted chunks make up
``DEAD_LIMIT`` of a graph, it is rebuilt.

A graph of ``COMPACT_FROM`` vectors or more keeps 8-bit codes (``dense.py``). Its file is
rewritten only once more than ``LAG_LIMIT`` chunks were added since it was saved: rewriting
hundreds of MB to add one article would dominate a small run, while a reader adds the few missing
vectors from SQLite in well under a second.

``Store`` holds one ``FaissMirror`` and is its ``VectorSource``: the mirror reads chunk ids and
vectors through that, and never runs SQL.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from askarchive.store import dense as graphs
from askarchive.store import faissfile
from askarchive.store.dense import DenseIndex, one_thread

if TYPE_CHECKING:
    from askarchive.store.chunks import ChunkTable

DEAD_LIMIT = 0.25
# From here on the graph keeps 8-bit codes, not float32 vectors: 1M chunks take about 0.65 GB
# in memory and on disk instead of 1.8 GB (benchmarks/scale.py). Below it nothing changes.
COMPACT_FROM = 50_000
# A compact graph's file is rewritten once more chunks than this were added since it was saved
# (or deletions pass DEAD_LIMIT); until then readers add the missing ones from SQLite.
LAG_LIMIT = 1_000


class VectorSource(Protocol):
    """What a dense index is derived from: the chunk rows of one database (``Store``)."""

    @property
    def generation(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def chunk_table(self) -> ChunkTable: ...

    def vector_batches(self, dim: int, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...

    def vectors_for(self, chunk_ids: Sequence[int], dim: int) -> dict[int, np.ndarray]: ...

    def chunks_after(self, chunk_id: int) -> tuple[int, int]: ...


class FaissMirror:
    """The dense index of one database, in memory and in its FAISS files, kept in step with the
    database's generation. ``Store`` holds one; it reads chunk rows only through ``source``."""

    def __init__(self, root: Path, uid: str, source: VectorSource) -> None:
        self.root = root
        self.uid = uid
        self.source = source
        self._dense: DenseIndex | None = None
        self._dense_gen: int | None = None
        self._bad: set[Path] = set()  # files found unreadable: the next save replaces them
        self._grows: bool | None = None  # whether ``apply`` builds a new database's graph

    def path(self, gen: int) -> Path:
        # ".hnsw" tells these files from the flat indexes of earlier versions, which are
        # never loaded (and are deleted by the next save).
        return self.root / f"store-{self.uid}-{gen}.hnsw.faiss"

    def current(self) -> DenseIndex:
        """The dense index for the current generation: kept, loaded, updated or rebuilt."""
        table = self.source.chunk_table()
        if self._dense is not None and self._dense_gen == table.generation:
            return self._dense
        dense = self.load(table.generation) or self._dense or self._load_latest()
        if dense is None:
            dense = self._build(len(table.ids))
        missing = dense.reconcile(table.ids)
        if dense.dead > DEAD_LIMIT * dense.ntotal:
            dense = self._build(len(table.ids))
            missing = dense.reconcile(table.ids)
        if len(missing):
            found = self.source.vectors_for(missing.tolist(), self.source.dim)
            keep = [int(i) for i in missing if int(i) in found]
            if keep:
                dense.add(keep, np.stack([found[i] for i in keep]))
        self._dense, self._dense_gen = dense, table.generation
        return dense

    def load(self, gen: int) -> DenseIndex | None:
        """The saved index of generation ``gen``; None if there is none or it cannot be read."""
        import faiss

        path = self.path(gen)
        if not path.exists():
            return None
        try:
            index = faiss.read_index(str(path))
        except Exception:  # noqa: BLE001 - any unreadable file: rebuilt from the source of truth
            self._bad.add(path)
            return None
        if not DenseIndex.usable(index):
            self._bad.add(path)
            return None
        return self._attach(DenseIndex(index))

    def _load_latest(self) -> DenseIndex | None:
        """The newest saved index of this database, whatever its generation.

        Safe to bring up to date because chunk ids are never reused: an id it holds either
        still means the same text or no longer exists.
        """
        for gen in self._generations():
            dense = self.load(gen)
            if dense is not None:
                return dense
        return None

    def _generations(self) -> list[int]:
        """Generations of this database's saved graphs, newest first."""
        gens = []
        for path in self.root.glob(f"store-{self.uid}-*.hnsw.faiss"):
            tail = path.name.removesuffix(".hnsw.faiss").rsplit("-", 1)[-1]
            if tail.isdigit():
                gens.append(int(tail))
        return sorted(gens, reverse=True)

    def _build(self, count: int) -> DenseIndex:
        """A new graph over every vector in SQLite (``count`` of them, about), compact from
        ``COMPACT_FROM`` on; read in batches, and the codes' ranges learnt from the first."""
        dim = self.source.dim
        batches = self.source.vector_batches(dim, graphs.BUILD_BATCH)
        first = next(batches, None)
        if first is None:
            return self._attach(DenseIndex.empty(dim))
        dense = DenseIndex.empty(dim, first[1] if count >= COMPACT_FROM else None)
        dense.add_batches(itertools.chain([first], batches))
        return self._attach(dense)

    def _attach(self, dense: DenseIndex) -> DenseIndex:
        """Give a compact graph the exact vectors to re-score its candidates with."""
        if dense.compact:
            dim = self.source.dim
            dense.exact_vectors = lambda ids: self.source.vectors_for(ids, dim)
        return dense

    def _close_enough(self) -> bool:
        """True when the newest saved graph is compact, whole, and at most ``LAG_LIMIT``
        chunks behind the database (without too many deleted ones): it need not be rewritten.
        Read from the file's header and id list, without loading the graph. A newest file
        that is not whole is never kept: readers would try it first every time."""
        gens = self._generations()
        saved = faissfile.summary(self.path(gens[0])) if gens else None
        if saved is None or saved.path in self._bad or saved.kind != faissfile.CODES:
            return False
        if saved.ntotal == 0:
            return False
        after, total = self.source.chunks_after(int(saved.ids().max()))
        dead = saved.ntotal - (total - after)
        return after <= LAG_LIMIT and dead <= DEAD_LIMIT * saved.ntotal

    def apply(self, added_ids: Sequence[int], vectors: np.ndarray, removed: Sequence[int]) -> None:
        """Mirror one committed transaction into the in-memory index (caller just committed).

        A graph not in memory is left to the next ``current()``, except in a new database: its
        graph grows with each commit, while the next batch embeds, instead of being built whole
        by the save at the end, while nothing else runs. The encoder has every core meanwhile:
        a second OpenMP thread here would only spin beside it."""
        with one_thread():
            self._apply(added_ids, vectors, removed)

    def _apply(self, added_ids: Sequence[int], vectors: np.ndarray, removed: Sequence[int]) -> None:
        dense = self._dense
        if dense is None:
            if self._grows is None:
                _, total = self.source.chunks_after(-1)
                self._grows = not removed and total == len(added_ids) and not self._generations()
            if not self._grows:
                return
            dense = self._attach(DenseIndex.empty(self.source.dim))
        if removed:
            dense.remove(removed)
        if not dense.compact and dense.ntotal - dense.dead + len(added_ids) >= COMPACT_FROM:
            # Past the threshold the graph keeps 8-bit codes: built once from the database,
            # which holds this transaction already.
            dense = self._build(dense.ntotal - dense.dead + len(added_ids))
        else:
            dense.add(added_ids, vectors)
        self._dense, self._dense_gen = dense, self.source.generation

    def save(self) -> None:
        """Write the index for the current generation atomically and drop older files."""
        import faiss

        path = self.path(self.source.generation)
        if path not in self._bad and faissfile.summary(path) is not None:
            return  # nothing was committed since that file was written for this generation
        if self._dense is None and self._close_enough():
            return  # a big graph a few chunks behind: readers catch up from SQLite
        dense = self.current()
        live = dense.ntotal - dense.dead
        if dense.dead > DEAD_LIMIT * max(dense.ntotal, 1) or (
            not dense.compact and live >= COMPACT_FROM
        ):
            dense = self._dense = self._build(live)
        tmp = path.with_suffix(".faiss.tmp")
        faiss.write_index(dense.index, str(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self._bad.discard(path)
        for old in self.root.glob(f"store-{self.uid}-*.faiss*"):
            if old != path:
                old.unlink(missing_ok=True)
