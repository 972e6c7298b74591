"""Split an article body into sentence-aligned chunks that fit the embedding model.

Budgets are counted in the model's own tokens (the title prefix included), so no chunk is ever
silently truncated by the model. Every chunk is an exact slice of the body: ``body[start:end]``.
The article is tokenized once; a chunk's ids are cut from it for the encoder (``TokenEncoder``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from askarchive.models import Article, Chunk
from askarchive.text import sentence_spans

if TYPE_CHECKING:
    from askarchive.embed.embedding import Embedder

# Titles are repeated in every chunk's embedding text; a runaway title must not eat the budget.
MAX_TITLE_TOKENS = 32
# Where a chunk may take its ids from its article's tokens: a word tokenizes the same alone as
# in its article when plain whitespace bounds it. Other characters that Python calls space are
# dropped or kept by the tokenizer (control characters, U+2028), so they do not count.
PLAIN_SPACE = frozenset(" \t\n\r")


@dataclass(frozen=True, slots=True)
class ChunkSettings:
    max_tokens: int = 160
    overlap_tokens: int = 32

    def as_manifest(self) -> dict[str, int]:
        return {"chunk_tokens": self.max_tokens, "chunk_overlap": self.overlap_tokens}


def embedding_text(title: str, chunk_text: str) -> str:
    """The text actually embedded: title as context, then the chunk."""
    return f"{title}\n{chunk_text}" if title else chunk_text


class Chunked(NamedTuple):
    """An article's chunks and, for each, the text to embed and its ids if known (else None)."""

    chunks: list[Chunk]
    texts: list[str]
    tokens: list[list[int] | None]


def _title_prefix(title: str, embedder: Embedder) -> tuple[str, list[int] | None, int]:
    """The title as embedded (at most MAX_TITLE_TOKENS), its ids (None if they might differ
    inside the embedded text), and its cost in tokens with the line break that follows it."""
    if not title:
        return "", [], 0
    tokens = embedder.tokens(title)
    if len(tokens.ids) > MAX_TITLE_TOKENS:
        title = title[: tokens.offsets[MAX_TITLE_TOKENS - 1][1]]
        tokens = embedder.tokens(title)
    # The embedded text is stripped, so a title that starts with a space is not the same.
    ids = None if title[:1].isspace() else tokens.ids
    return title, ids, len(tokens.ids) + 1


def chunk_article(
    article: Article, embedder: Embedder, settings: ChunkSettings
) -> tuple[list[Chunk], list[str]]:
    """Return the chunks of ``article`` and, in parallel, the texts to embed for them."""
    chunks, texts, _ = chunk_with_tokens(article, embedder, settings)
    return chunks, texts


def chunk_with_tokens(article: Article, embedder: Embedder, settings: ChunkSettings) -> Chunked:
    """``chunk_article``, with each chunk's ids for a ``TokenEncoder``."""
    body = article.body
    if not body.strip():
        return Chunked([], [], [])
    title, title_ids, title_cost = _title_prefix(article.title, embedder)
    budget = max(8, min(settings.max_tokens, embedder.max_tokens) - title_cost)
    overlap = min(settings.overlap_tokens, budget // 2)

    body_ids, offsets = embedder.tokens(body)
    token_starts = [s for s, _ in offsets]
    token_ends = [e for _, e in offsets]

    def ids_of(start: int, end: int) -> list[int] | None:
        # A cut inside a word (a sentence too long for the budget) tokenizes differently alone.
        if title_ids is None or body[start].isspace() or body[end - 1].isspace():
            return None
        if (start > 0 and body[start - 1] not in PLAIN_SPACE) or (
            end < len(body) and body[end] not in PLAIN_SPACE
        ):
            return None
        first = bisect.bisect_left(token_ends, start + 1)
        return title_ids + body_ids[first : bisect.bisect_right(token_starts, end - 1)]

    def tokens_in(start: int, end: int) -> int:
        return bisect.bisect_right(token_starts, end - 1) - bisect.bisect_left(
            token_ends, start + 1
        )

    # Units are sentences, or pieces of a sentence too long for the budget on its own.
    units: list[tuple[int, int, int]] = []
    for s, e in sentence_spans(body):
        n = tokens_in(s, e)
        if n <= budget:
            units.append((s, e, n))
            continue
        first = bisect.bisect_left(token_ends, s + 1)
        last = bisect.bisect_right(token_starts, e - 1)
        for i in range(first, last, budget):
            j = min(i + budget, last)
            units.append((token_starts[i], token_ends[j - 1], j - i))

    chunks: list[Chunk] = []
    texts: list[str] = []
    tokens: list[list[int] | None] = []
    i = 0
    while i < len(units):
        total = 0
        j = i
        while j < len(units) and (total + units[j][2] <= budget or j == i):
            total += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        text = body[start:end]
        chunks.append(Chunk(article.id, len(chunks), start, end, text, total + title_cost))
        texts.append(embedding_text(title, text))
        tokens.append(ids_of(start, end))
        if j >= len(units):
            break
        # Step back over trailing sentences so the next chunk repeats up to `overlap` tokens.
        k, carried = j, 0
        while k - 1 > i and carried + units[k - 1][2] <= overlap:
            k -= 1
            carried += units[k][2]
        i = k
    return Chunked(chunks, texts, tokens)
