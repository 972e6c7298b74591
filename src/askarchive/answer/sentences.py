"""Sentences of retrieved passages and the query words they share: the lexical side of answers.

Split out of ``extractive.py``: splitting passages into candidate sentences with exact offsets, the
content words of a query and of a sentence, and the weighted share of the query a sentence
covers. Everything here is plain Python over short texts, so it costs a few milliseconds per
question.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from askarchive.models import Passage
from askarchive.text import (
    CALENDAR,
    DEMONYM,
    POSSESSIVE,
    STOPWORDS,
    WORD,
    content_terms,
    normalize_term,
    sentence_spans,
)

MIN_WORDS = 4
MAX_SENTENCE_CHARS = 1000


def query_weights(text: str) -> dict[str, float]:
    """Content words of a query with weights: names (capitalised mid-sentence) count double."""
    weights: dict[str, float] = {}
    for i, m in enumerate(WORD.finditer(POSSESSIVE.sub("", text))):
        word = m.group(0)
        term = normalize_term(word)
        if word.lower() in STOPWORDS or term in STOPWORDS:
            continue
        name = i > 0 and word[:1].isupper()
        weights[term] = max(weights.get(term, 0.0), 2.0 if name else 1.0)
    return weights


def names(text: str) -> list[set[str]]:
    """Groups of adjacent capitalised words (not sentence-initial): "Khalid Mansour", "IMF"."""
    groups: list[set[str]] = []
    prev_end = -2
    # A possessive ends a name: "Suriname's Suralco" is two names, not one.
    for i, m in enumerate(WORD.finditer(POSSESSIVE.sub("  ", text))):
        word = m.group(0)
        if i == 0 or not word[:1].isupper() or word.lower() in _NOT_NAMES:
            continue
        if groups and m.start() == prev_end + 1:
            groups[-1].add(normalize_term(word))
        else:
            groups.append({normalize_term(word)})
        prev_end = m.end()
    # A lone people-word ("Norwegian", "American") is not a name the text must repeat: reports
    # say "Norway" or "U.S.".
    return [g for g in groups if len(g) > 1 or not DEMONYM.search(next(iter(g)))]


# Capitalised words that name a time, not a thing the passages must mention: the date in a
# question is the retriever's business (datehint.py), and a report of March figures may never
# say "March".
_NOT_NAMES = STOPWORDS | CALENDAR


@dataclass(frozen=True, slots=True)
class Sentence:
    passage: int  # index into the passages
    start: int  # offsets in passage.text
    end: int
    text: str
    terms: frozenset[str]


def candidates(passages: Sequence[Passage]) -> list[Sentence]:
    """Whole sentences of the passages that could be quoted, in passage then reading order."""
    out: list[Sentence] = []
    for p_index, passage in enumerate(passages):
        text = passage.text
        spans = sentence_spans(text)
        for n, (a, b) in enumerate(spans):
            piece = text[a:b]
            if len(WORD.findall(piece)) < MIN_WORDS or len(piece) > MAX_SENTENCE_CHARS:
                continue
            # A chunk that starts or stops mid-sentence leaves a fragment at its edge.
            if n == 0 and passage.citation.start > 0 and piece[:1].islower():
                continue
            if (
                n == len(spans) - 1
                and b == len(text.rstrip())
                and not re.search(r"[.!?…\"”’')\]]$", piece)
            ):
                continue
            out.append(Sentence(p_index, a, b, piece, frozenset(content_terms(piece))))
    return out


def coverage(weights: dict[str, float], terms: frozenset[str] | set[str]) -> float:
    """Weighted share of the query's terms found in ``terms``, 0..1."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in terms) / total if total else 0.0


def idf_weights(weights: dict[str, float], cands: Sequence[Sentence]) -> dict[str, float]:
    """Query weights times a BM25 idf over the candidate sentences.

    A question word found in every sentence ("Jordan" in a question about Jordan, answered from
    articles about Jordan) tells the sentences apart less than the rarer word that asks the
    question; weighting by idf is what let lexical ranking match the embedding ranking it
    replaced (benchmarks/answers.py).
    """
    n = len(cands)
    df = Counter(t for c in cands for t in c.terms if t in weights)
    return {t: w * math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t, w in weights.items()}
