"""Embedding on a thread of its own, one batch ahead of the writer.

While the embedding thread encodes batch N+1, the indexing thread commits batch N (SQLite, FTS5,
FAISS) and takes the parser's next articles, so neither the writes nor the hand-over leave the
cores idle. The store is only ever touched by the indexing thread: the embedding thread sets
``Pending.vectors`` (an article's whole array at once, after its last chunk) and counts chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np

from askarchive.embed.embedding import BatchEncoder, TokenEncoder
from askarchive.index.work import Pending

# How often the indexing thread looks up from waiting: progress, and commits by time.
TICK_SECONDS = 0.1
# Texts per forward pass of a backend that pads a batch to its longest text (PyTorch, a GPU).
ENCODE_BATCH = 32


def embed_batch(
    encoder: BatchEncoder,
    items: Sequence[Pending],
    mini: int,
    *,
    stop: Callable[[], bool],
    after: Callable[[int], None],
) -> bool:
    """Set ``vectors`` on each of ``items`` by encoding their chunk texts with ``encoder``.

    Texts go in length-sorted calls of at most ``mini`` (so little is padding); an article
    gets its vectors as soon as its last chunk is encoded. ``after(n)`` runs after each call
    of ``n`` texts; ``stop()`` is checked before each. Returns False if stopped
    before every article was encoded. A ``TokenEncoder`` gets the chunker's ids as well.
    """
    flat = [(p, j) for p in items for j in range(len(p.texts))]
    flat.sort(key=lambda pj: pj[0].chunks[pj[1]].tokens)
    out = {id(p): np.zeros((len(p.texts), encoder.dim), np.float32) for p in items}
    filled = {id(p): 0 for p in items}
    # Equal-sized mini-batches of at most ``mini``: no small remainder at the end.
    parts = max(1, -(-len(flat) // mini))
    bounds = [len(flat) * q // parts for q in range(parts + 1)]
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        if stop():
            break
        part = flat[start:end]
        texts = [p.texts[j] for p, j in part]
        size = min(mini, ENCODE_BATCH)
        if isinstance(encoder, TokenEncoder):
            ids = [p.tokens[j] for p, j in part]
            vecs = encoder.encode_tokens(texts, ids, batch_size=size)
        else:
            vecs = encoder.encode(texts, batch_size=size)
        for (p, j), v in zip(part, vecs, strict=True):
            out[id(p)][j] = v
            filled[id(p)] += 1
            if filled[id(p)] == len(p.texts):
                p.vectors = out[id(p)]
        after(len(part))
    return all(p.vectors is not None for p in items)


class InFlight:
    """One batch handed to the embedding thread."""

    def __init__(
        self,
        pool: Executor,
        encoder: BatchEncoder,
        items: list[Pending],
        mini: int,
        *,
        stop: Callable[[], bool],
        after: Callable[[int], None],
    ) -> None:
        self.items = items
        self.chunks = sum(len(p.chunks) for p in items)
        self.seconds = 0.0

        def run() -> bool:
            started = time.monotonic()
            try:
                return embed_batch(encoder, items, mini, stop=stop, after=after)
            finally:
                self.seconds = time.monotonic() - started

        self._future = pool.submit(run)

    def wait(self, tick: Callable[[], None]) -> bool:
        """Whether every article got its vectors; ``tick()`` runs every TICK_SECONDS until
        then, on the calling thread. An error of the embedding thread is raised here."""
        while True:
            try:
                return self._future.result(timeout=TICK_SECONDS)
            except FutureTimeout:
                tick()
