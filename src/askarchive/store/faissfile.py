"""What a saved FAISS file says, read without loading it: whether it is whole, which kind of
graph it holds, and its chunk ids.

``faiss.write_index`` writes an ``IndexIDMap2`` as its header (with the vector count), the inner
index (whose own header starts at byte 37 with a four-letter code naming its kind), then the id
list: a count followed by one little-endian int64 per vector. A file whose two counts agree was
written to the end; ``FaissMirror.load`` still rebuilds anything FAISS cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FLAT = b"IHNf"  # IndexHNSWFlat: float32 vectors
CODES = b"IHNs"  # IndexHNSWSQ: 8-bit codes
_HEAD = 41


@dataclass(frozen=True, slots=True)
class Summary:
    path: Path
    kind: bytes  # FLAT or CODES
    ntotal: int

    def ids(self) -> np.ndarray:
        """The chunk ids the file holds, in graph order (8 bytes each, read from its end)."""
        offset = self.path.stat().st_size - 8 * self.ntotal
        return np.fromfile(self.path, dtype="<i8", count=self.ntotal, offset=offset)


def summary(path: Path) -> Summary | None:
    """The file's kind and count when it is a whole graph file as we write them; else None
    (empty, truncated, foreign or unreadable)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
            if len(head) < _HEAD or head[:4] != b"IxM2" or head[37:41] not in (FLAT, CODES):
                return None
            ntotal = int.from_bytes(head[8:16], "little", signed=True)
            tail = size - 8 * ntotal - 8
            if ntotal < 0 or tail < _HEAD:
                return None
            fh.seek(tail)
            if int.from_bytes(fh.read(8), "little") != ntotal:
                return None
    except OSError:
        return None
    return Summary(path, head[37:41], ntotal)
