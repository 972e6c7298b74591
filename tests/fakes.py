"""Stand-ins for the embedding model: tests of storage, retrieval and the UI run without torch."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence

import numpy as np

from askarchive.embed.embedding import Tokens

_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words are similar.

    Not a language model; it satisfies ``askarchive.embed.embedding.Embedder`` in milliseconds.
    Tokens are words (``\\w+`` runs).
    """

    def __init__(self, dim: int = 64, max_tokens: int = 64, name: str = "hash-test") -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.name = name
        self.calls = 0
        self.encoded = 0

    def tokens(self, text: str) -> Tokens:
        words = list(_WORD.finditer(text))
        return Tokens([len(m.group()) for m in words], [m.span() for m in words])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(t)) for t in texts]

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out


class SlowHashEmbedder(HashEmbedder):
    """A hash embedder that takes real time per batch, so a test can kill it mid-run."""

    def __init__(self, delay: float = 0.05, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kw)
        self.delay = delay

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        time.sleep(self.delay)
        return super().encode(texts, batch_size)
