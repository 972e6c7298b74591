"""The FAISS side of a store: a search structure derived from the vectors kept in SQLite.

A FAISS file is trusted only when its name carries the database's uuid and current generation
and it holds as many vectors as the database has chunks; otherwise it is rebuilt from SQLite.
``FaissMirror`` is mixed into ``Store``, which provides the connection and the manifest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import faiss

LOCK_NAME = "index.lock"


class FaissMirror:
    """Keeps the in-memory FAISS index in step with the database generation."""

    root: Path
    con: Any
    _faiss: faiss.Index | None
    _faiss_gen: int | None
    _lock_fd: int | None

    if TYPE_CHECKING:  # provided by Store

        @property
        def uid(self) -> str: ...

        @property
        def generation(self) -> int: ...

        def manifest(self) -> dict[str, str]: ...

        def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]: ...

    def _faiss_path(self, gen: int) -> Path:
        return self.root / f"store-{self.uid}-{gen}.faiss"

    def snapshot(self) -> tuple[int, int]:
        """(generation, chunk count) read in one transaction, so they belong together."""
        self.con.execute("BEGIN")
        try:
            gen = self.generation
            chunks = self.con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        finally:
            self.con.execute("COMMIT")
        return gen, int(chunks)

    def writer_active(self) -> bool:
        """True while another connection (any process, this one included) holds the write lock."""
        import fcntl

        if self._lock_fd is not None:
            return False
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the shared lock if we got it
        return False

    def faiss_index(self) -> faiss.Index:
        """The FAISS index for the current generation, loaded or rebuilt from SQLite.

        While another connection is indexing, a reader keeps the index it has: rebuilding after
        every batch would cost a full read of the vectors each time, and the writer publishes a
        fresh file when it finishes. Hits on rows deleted meanwhile are dropped by the caller.
        """
        import faiss

        gen, count = self.snapshot()
        if self._faiss is not None and self._faiss_gen == gen:
            return self._faiss
        path = self._faiss_path(gen)
        index = None
        if path.exists():
            try:
                index = faiss.read_index(str(path))
            except RuntimeError:
                index = None  # unreadable: fall through and rebuild from the source of truth
            if index is not None and index.ntotal != count:
                index = None
        if index is None and self._faiss is not None and self.writer_active():
            return self._faiss
        if index is None:
            index = self.rebuild_faiss()
        self._faiss, self._faiss_gen = index, gen
        return index

    def rebuild_faiss(self) -> faiss.Index:
        import faiss

        dim = int(self.manifest()["dim"])
        ids, vecs = self.all_vectors(dim)
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        if len(ids):
            index.add_with_ids(vecs, ids)
        return index

    def apply_to_faiss(
        self, added_ids: Sequence[int], vectors: np.ndarray, removed: Sequence[int]
    ) -> None:
        """Mirror one committed transaction into the in-memory index (caller just committed)."""
        index = self._faiss
        if index is None:
            return
        if removed:
            index.remove_ids(np.asarray(removed, dtype=np.int64))
        if len(added_ids):
            index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32),
                np.asarray(added_ids, dtype=np.int64),
            )
        self._faiss_gen = self.generation

    def save_faiss(self) -> None:
        """Write the index for the current generation atomically and drop older files."""
        import faiss

        index = self.faiss_index()
        path = self._faiss_path(self.generation)
        tmp = path.with_suffix(".faiss.tmp")
        faiss.write_index(index, str(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        for old in self.root.glob(f"store-{self.uid}-*.faiss*"):
            if old != path:
                old.unlink(missing_ok=True)
