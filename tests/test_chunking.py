from __future__ import annotations

import random

import pytest

from askarchive.index.chunking import (
    ChunkSettings,
    chunk_article,
    chunk_with_tokens,
    embedding_text,
    sentence_spans,
)
from askarchive.models import Article
from tests.fakes import HashEmbedder

WORDS = [
    "minister",
    "said",
    "the",
    "talks",
    "in",
    "Damascus",
    "would",
    "resume",
    "after",
    "the",
    "ceasefire",
    "held",
    "for",
    "days",
]


def _body(rng: random.Random, paragraphs: int) -> str:
    paras = []
    for _ in range(paragraphs):
        sents = []
        for _ in range(rng.randint(1, 6)):
            n = rng.randint(3, 40)
            sents.append(" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ".")
        paras.append(" ".join(sents))
    return "\n\n".join(paras)


def test_sentence_spans_split_sentences_and_lines() -> None:
    text = "First sentence here. Second one follows!\nA heading\n\nThird paragraph, one sentence."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "First sentence here.",
        "Second one follows!",
        "A heading",
        "Third paragraph, one sentence.",
    ]


@pytest.mark.parametrize("seed", range(25))
def test_chunks_are_exact_slices_within_budget(seed: int) -> None:
    rng = random.Random(seed)
    emb = HashEmbedder(max_tokens=60)
    settings = ChunkSettings(max_tokens=rng.randint(20, 60), overlap_tokens=rng.randint(0, 15))
    article = Article(
        id="a", title="Talks in Damascus", body=_body(rng, rng.randint(1, 8)), path="p"
    )
    chunks, texts = chunk_article(article, emb, settings)
    assert chunks, "a non-empty body yields chunks"
    covered = set()
    for c, t in zip(chunks, texts, strict=True):
        assert article.body[c.start : c.end] == c.text
        assert t == embedding_text(article.title, c.text)
        # The whole embedded text, title included, fits the budget.
        assert emb.count_tokens([t])[0] <= settings.max_tokens
        covered.update(range(c.start, c.end))
    # Every word of the body lands in some chunk.
    for s, _ in emb.tokens(article.body).offsets:
        assert s in covered
    starts = [c.start for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


def test_overlap_repeats_trailing_sentences() -> None:
    body = " ".join(f"Sentence number {i} is short." for i in range(40))
    article = Article(id="a", title="", body=body, path="p")
    chunks, _ = chunk_article(article, HashEmbedder(), ChunkSettings(40, 10))
    assert len(chunks) > 2
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end, "consecutive chunks share their boundary sentences"


def test_zero_overlap_and_empty_body() -> None:
    body = " ".join(f"Sentence number {i} is short." for i in range(40))
    article = Article(id="a", title="T", body=body, path="p")
    chunks, _ = chunk_article(article, HashEmbedder(), ChunkSettings(40, 0))
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start > a.end - 1
    assert chunk_article(
        Article(id="b", title="T", body="  \n ", path="p"), HashEmbedder(), ChunkSettings()
    ) == ([], [])


def test_overlong_sentence_is_split_at_token_boundaries() -> None:
    body = " ".join(["word"] * 500) + "."
    article = Article(id="a", title="T", body=body, path="p")
    emb = HashEmbedder()
    chunks, texts = chunk_article(article, emb, ChunkSettings(50, 10))
    assert len(chunks) >= 10
    assert all(emb.count_tokens([t])[0] <= 50 for t in texts)
    assert all(body[c.start : c.end] == c.text for c in chunks)


@pytest.mark.model
def test_real_tokenizer_budget(real_embedder) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    article = Article(id="a", title="Shoigu visits Damascus", body=_body(rng, 12), path="p")
    settings = ChunkSettings()
    chunks, texts = chunk_article(article, real_embedder, settings)
    counts = real_embedder.count_tokens(texts)
    assert all(n <= settings.max_tokens for n in counts)
    assert all(article.body[c.start : c.end] == c.text for c in chunks)


# Words and separators that a tokenizer treats unlike plain text: accents and combining marks,
# CJK, ligatures, characters it drops (control, U+FFFD), spaces that are not plain (U+2028,
# no-break), words longer than WordPiece takes, and abbreviations that split sentences oddly.
ODD_WORDS = [
    *WORDS,
    "U.S.",
    "3.5%",
    "$1.1bn",
    "unbelievably",
    "Khasawneh",
    "café",
    "cafe\u0301",
    "東京",
    "İstanbul",
    "Straße",
    "ﬁnance",
    "\u2028",
    "\x1c",
    "\x85",
    "\ufffd",
    "\u200b",
    "—",
    "'s",
    "x" * 120,
    "مرحبا",
    "😀",
    "Mr.",
]
ODD_SEPARATORS = [" ", " ", " ", "\n", "\t", "", "\u00a0", "\u2028", "\x1c", ". "]


@pytest.mark.model
def test_chunk_ids_are_what_the_encoder_would_get_from_the_text(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """The ids the chunker cuts from its article's tokens, wrapped by the encoder, equal the
    encoder's own tokenization of the chunk's text; a chunk where they might not gets none."""
    from askarchive.embed.ortencoder import Featurizer

    featurizer = Featurizer(real_embedder._path)
    rng = random.Random(3)
    given = 0
    for n in range(300):
        body = "".join(
            rng.choice(ODD_WORDS) + rng.choice(ODD_SEPARATORS) for _ in range(rng.randint(1, 150))
        )
        title = "".join(rng.choice(ODD_WORDS) + " " for _ in range(rng.randint(0, 40)))
        article = Article(id=str(n), title=title, body=body, path="p")
        settings = ChunkSettings(rng.randint(20, 160), rng.randint(0, 32))
        chunks, texts, tokens = chunk_with_tokens(article, real_embedder, settings)
        assert (chunks, texts) == chunk_article(article, real_embedder, settings)
        want = [e.ids for e in featurizer.encodings(texts)]
        for text, ids, (got, _) in zip(texts, want, featurizer.rows(texts, tokens), strict=True):
            assert got == ids, text
        given += sum(t is not None for t in tokens)
    assert given > 200, "the chunks bounded by plain spaces have their ids"
