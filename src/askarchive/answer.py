"""Extractive answers: the best few sentences of the retrieved passages, verbatim, each cited.

No text is generated. Each passage is split into sentences with exact offsets; sentences are
scored by meaning (cosine to the query, when an embedding function is given), by the share of the
query's content words they contain, and slightly by their passage's rank; then picked with
maximal marginal relevance so a wire story repeated in two articles is quoted once. Every
``AnswerSentence`` carries its exact span in the article body, so
``article.body[s.start:s.end] == s.text`` holds by construction.

When the passages do not support an answer (``support`` below ``ABSTAIN_THRESHOLD``) the answer
says so and lists the closest passages as related reading instead of stitching together
sentences that merely share a word with the question.

Markdown: ``Answer.text`` is Markdown, and article text is not escaped (the UI escapes). The
one exception is a paragraph that would begin with a block marker ("# ", "- ", "1. ", "> "):
its first marker gets a backslash so a quoted bullet cannot turn the answer into a list or
heading. ``AnswerSentence.text`` is always the verbatim span.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from askarchive.models import Answer, AnswerSentence, Citation, DateWindow, Passage
from askarchive.text import STOPWORDS

ABSTAIN_THRESHOLD = 0.45
"""Minimum ``support`` for an extractive answer; below it the answer abstains.

Calibrated by ``benchmarks/answers.py`` (SQuAD-dev whole articles, half of them deleted, 400
questions; table in BENCHMARKS.md): at 0.45 abstention precision is 0.945 and recall 0.851 while
95% of answerable questions still get an answer. The F1-best 0.55 would drop 10% of answerable
questions; a reader loses more from a missing answer it could have checked than from a cited
passage it can see is off-topic.
"""

MMR_LAMBDA = 0.7
MIN_WORDS = 4
MAX_SENTENCE_CHARS = 1000
# Sentences embedded per answer: the single embed call dominates latency on CPU.
MAX_CANDIDATES = 64
# A sentence must score at least this share of the best sentence's relevance to be quoted.
RELATIVE_FLOOR = 0.5
# Passages whose similarity to the question trails the best one by more than this are
# related reading, not answer material.
PASSAGE_MARGIN = 0.15
# Similarity at which two sentences count as the same sentence (wire repeats, light edits).
DUPLICATE_JACCARD = 0.7
DUPLICATE_COSINE = 0.92


_WORD = re.compile(r"\w+", re.UNICODE)
_POSSESSIVE = re.compile(r"(?<=\w)['’]s?\b")
_BLOCK_START = re.compile(r"^(?:#|>|[-*+=_|~`]|\d{1,9}[.)](?=\s|$))")

Embed = Callable[[list[str]], np.ndarray]


def normalize_term(word: str) -> str:
    """Lowercase and strip simple plurals so "refugees" meets "refugee"."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("sses", "xes", "ches", "shes", "zes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def content_terms(text: str) -> list[str]:
    """Content words of ``text``, normalised, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(_POSSESSIVE.sub("", text)):
        term = normalize_term(word)
        if word.lower() not in STOPWORDS and term not in STOPWORDS and term not in seen:
            seen[term] = None
    return list(seen)


def query_weights(text: str) -> dict[str, float]:
    """Content words of a query with weights: names (capitalised mid-sentence) count double."""
    weights: dict[str, float] = {}
    for i, m in enumerate(_WORD.finditer(_POSSESSIVE.sub("", text))):
        word = m.group(0)
        term = normalize_term(word)
        if word.lower() in STOPWORDS or term in STOPWORDS:
            continue
        name = i > 0 and word[:1].isupper()
        weights[term] = max(weights.get(term, 0.0), 2.0 if name else 1.0)
    return weights


def _names(text: str) -> list[set[str]]:
    """Groups of adjacent capitalised words (not sentence-initial): "Khalid Mansour", "IMF"."""
    groups: list[set[str]] = []
    prev_end = -2
    for i, m in enumerate(_WORD.finditer(_POSSESSIVE.sub("", text))):
        word = m.group(0)
        if i == 0 or not word[:1].isupper() or word.lower() in STOPWORDS:
            continue
        if groups and m.start() == prev_end + 1:
            groups[-1].add(normalize_term(word))
        else:
            groups.append({normalize_term(word)})
        prev_end = m.end()
    return groups


@dataclass(frozen=True, slots=True)
class _Sentence:
    passage: int  # index into the passages
    start: int  # offsets in passage.text
    end: int
    text: str
    terms: frozenset[str]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text``: lines first (so headings never merge), then blingfire.

    Spans are trimmed of surrounding whitespace and never empty.
    """
    import blingfire

    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n\r]+", text):
        chunk = line.group(0)
        if not chunk.strip():
            continue
        _, offsets = blingfire.text_to_sentences_and_offsets(chunk)
        for a, b in offsets:
            a, b = max(0, a), min(len(chunk), b)
            while a < b and chunk[a].isspace():
                a += 1
            while b > a and chunk[b - 1].isspace():
                b -= 1
            if a < b:
                spans.append((line.start() + a, line.start() + b))
    return spans


def _candidates(passages: Sequence[Passage]) -> list[_Sentence]:
    out: list[_Sentence] = []
    for p_index, passage in enumerate(passages):
        text = passage.text
        spans = split_sentences(text)
        for n, (a, b) in enumerate(spans):
            piece = text[a:b]
            if len(_WORD.findall(piece)) < MIN_WORDS or len(piece) > MAX_SENTENCE_CHARS:
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
            out.append(_Sentence(p_index, a, b, piece, frozenset(content_terms(piece))))
    return out


def _coverage(weights: dict[str, float], terms: frozenset[str] | set[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in terms) / total if total else 0.0


def _support(
    weights: dict[str, float],
    names: list[set[str]],
    cands: Sequence[_Sentence],
    best_sim: float | None,
) -> float:
    ranked = sorted(cands, key=lambda c: _coverage(weights, c.terms), reverse=True)[:3]
    union: set[str] = set().union(*(c.terms for c in ranked)) if ranked else set()
    overlap = _coverage(weights, union)
    score = overlap
    if best_sim is not None:
        score = 0.5 * overlap + 0.5 * min(1.0, max(0.0, (best_sim - 0.2) / 0.4))
    if names:
        # Asking about a name the passages never mention is the clearest sign of a miss.
        every = set().union(*(c.terms for c in cands)) if cands else set()
        found = sum(1 for group in names if group & every) / len(names)
        score *= 0.4 + 0.6 * found
    return score


def _best_similarity(passages: Sequence[Passage]) -> float | None:
    sims = [p.similarity for p in passages if p.similarity is not None]
    return max(sims) if sims else None


def support(question: str, passages: Sequence[Passage], *, query_used: str | None = None) -> float:
    """How well the passages support answering ``question``, roughly 0..1.

    Half the best passage's dense cosine (scaled from 0.2..0.6 to 0..1; absent for keyword-only
    hits) and half the weighted share of the question's content words found in its three best
    sentences, shrunk when names in the question appear in none of the passages.
    """
    if not passages:
        return 0.0
    query = query_used or question
    return _support(
        query_weights(query), _names(query), _candidates(passages), _best_similarity(passages)
    )


def _unit_rows(vecs: np.ndarray) -> np.ndarray:
    vecs = np.asarray(vecs, dtype=np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.where(norms > 0, norms, 1.0)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if (a or b) else 1.0


def _select(
    cands: Sequence[_Sentence],
    rel: np.ndarray,
    vecs: np.ndarray | None,
    eligible: list[int],
    k: int,
) -> list[int]:
    """Maximal marginal relevance over ``eligible``; near-duplicates of a pick are dropped."""
    keys = [re.sub(r"\W+", " ", c.text.lower()).strip() for c in cands]

    def similarity(i: int, j: int) -> float:
        if vecs is not None:
            return float(vecs[i] @ vecs[j])
        return _jaccard(cands[i].terms, cands[j].terms)

    def duplicate(i: int, j: int) -> bool:
        if keys[i] == keys[j] or _jaccard(cands[i].terms, cands[j].terms) >= DUPLICATE_JACCARD:
            return True
        return vecs is not None and float(vecs[i] @ vecs[j]) >= DUPLICATE_COSINE

    chosen: list[int] = []
    pool = list(eligible)
    while pool and len(chosen) < k:
        scores = [
            MMR_LAMBDA * float(rel[i])
            - (1 - MMR_LAMBDA) * max((similarity(i, j) for j in chosen), default=0.0)
            for i in pool
        ]
        pick = pool[int(np.argmax(scores))]
        chosen.append(pick)
        pool = [i for i in pool if i != pick and not duplicate(i, pick)]
    return chosen


def _markdown_safe(paragraph: str) -> str:
    m = _BLOCK_START.match(paragraph)
    if not m:
        return paragraph
    pos = m.end() - 1 if paragraph[:1].isdigit() else 0
    return paragraph[:pos] + "\\" + paragraph[pos:]


def _when(cit: Citation) -> str:
    return cit.date.isoformat() if cit.date else "undated"


def sources_block(citations: Sequence[Citation]) -> str:
    lines = ["**Sources**"]
    for n, cit in enumerate(citations, start=1):
        lines.append(f"[{n}] {cit.title} ({_when(cit)}) — {cit.path}:{cit.start}-{cit.end}")
    return "\n".join(lines)


def short_topic(query: str, limit: int = 10) -> str:
    """The stretch of a query from its first to its last content word, at most ``limit`` words."""
    words = query.strip().rstrip("?.!").split()
    keep = [i for i, w in enumerate(words) if content_terms(w)]
    if not keep:
        return "that"
    topic = words[keep[0] : keep[-1] + 1][:limit]
    return " ".join(topic).strip(",;:")


def abstain(
    question: str,
    passages: Sequence[Passage],
    *,
    window: DateWindow | None = None,
    query_used: str | None = None,
) -> Answer:
    """The answer that says the archive has nothing, with the closest passages to read."""
    query = query_used or question
    text = f"The archive has nothing on {short_topic(query)}"
    if window is not None and (window.since or window.until):
        text += f" (dates {window.describe()})"
    text += "."
    if passages:
        lines = [
            f"- {p.citation.title} ({_when(p.citation)}) — "
            f"{p.citation.path}:{p.citation.start}-{p.citation.end}"
            for p in passages
        ]
        text += "\n\nClosest passages:\n" + "\n".join(lines)
    return Answer(
        text=text,
        sentences=[],
        citations=[],
        abstained=True,
        query_used=query,
        window=window,
        related=list(passages),
    )


def extractive_answer(
    question: str,
    passages: Sequence[Passage],
    *,
    query_vector: np.ndarray | None = None,
    embed: Embed | None = None,
    max_sentences: int = 4,
    window: DateWindow | None = None,
    query_used: str | None = None,
) -> Answer:
    """Answer from the passages' own sentences, each cited, or abstain.

    ``embed`` is called at most once, with every candidate sentence (and the query, when no
    ``query_vector`` is given). Without it, sentences are ranked by content words alone.
    ``related`` lists the passages not cited.
    """
    query = query_used or question
    cands = _candidates(passages)
    weights = query_weights(query)
    if not passages or not cands:
        return abstain(question, passages, window=window, query_used=query_used)
    if _support(weights, _names(query), cands, _best_similarity(passages)) < ABSTAIN_THRESHOLD:
        return abstain(question, passages, window=window, query_used=query_used)

    if len(cands) > MAX_CANDIDATES:
        top = sorted(range(len(cands)), key=lambda i: -_coverage(weights, cands[i].terms))
        cands = [cands[i] for i in sorted(top[:MAX_CANDIDATES])]
    lex = np.array([_coverage(weights, c.terms) for c in cands], dtype=np.float32)
    rank_bonus = np.array([0.05 / (1 + c.passage) for c in cands], dtype=np.float32)
    vecs: np.ndarray | None = None
    dense: np.ndarray | None = None
    if embed is not None:
        texts = [c.text for c in cands]
        if query_vector is None:
            rows = _unit_rows(embed([query, *texts]))
            qvec, vecs = rows[0], rows[1:]
        else:
            vecs = _unit_rows(embed(texts))
            qvec = _unit_rows(np.asarray(query_vector, dtype=np.float32).reshape(1, -1))[0]
        dense = vecs @ qvec
        rel = 0.55 * dense + 0.45 * lex + rank_bonus
    else:
        rel = lex + rank_bonus

    best = float(rel.max())
    best_passage = _best_similarity(passages)
    eligible = []
    for i in range(len(cands)):
        close = dense is not None and float(dense[i]) >= float(dense.max()) - 0.1
        # A sentence that shares a word with the question still has no place in the answer
        # when its whole passage is about something else (a skier in "Beirut marathon").
        sim = passages[cands[i].passage].similarity
        on_topic = best_passage is None or sim is None or sim >= best_passage - PASSAGE_MARGIN
        if rel[i] >= RELATIVE_FLOOR * best and (lex[i] > 0 or close) and on_topic:
            eligible.append(i)
    chosen = _select(cands, rel, vecs, eligible, max(1, max_sentences))
    if not chosen:
        return abstain(question, passages, window=window, query_used=query_used)

    # Sources in order of their best sentence; sentences of one source in reading order.
    order: list[int] = []
    for i in chosen:
        if cands[i].passage not in order:
            order.append(cands[i].passage)
    number = {p: n for n, p in enumerate(order, start=1)}
    picked = sorted(chosen, key=lambda i: (number[cands[i].passage], cands[i].start))

    sentences: list[AnswerSentence] = []
    paragraphs: list[str] = []
    for p_index in order:
        passage = passages[p_index]
        cit = passage.citation
        exact = cit.end - cit.start == len(passage.text)
        parts = []
        for i in picked:
            c = cands[i]
            if c.passage != p_index:
                continue
            sentences.append(
                AnswerSentence(
                    text=c.text,
                    citation_index=number[p_index],
                    start=cit.start + c.start if exact else None,
                    end=cit.start + c.end if exact else None,
                )
            )
            parts.append(f"{c.text} [{number[p_index]}]")
        paragraphs.append(_markdown_safe(" ".join(parts)))
    citations = [passages[p].citation for p in order]
    text = "\n\n".join(paragraphs) + "\n\n" + sources_block(citations)
    return Answer(
        text=text,
        sentences=sentences,
        citations=citations,
        abstained=False,
        query_used=query,
        window=window,
        related=[p for i, p in enumerate(passages) if i not in number],
    )
