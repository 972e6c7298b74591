"""Extractive answers: the best few sentences of the retrieved passages, verbatim, each cited.

No text is generated. Each passage is split into sentences with exact offsets; sentences are
scored by the idf-weighted share of the query's content words they contain, by their passage's
similarity to the query (computed by retrieval), slightly by their passage's rank, and by meaning
(cosine to the query) only when a caller passes an embedding function; then picked with maximal
marginal relevance so a wire story repeated in two articles is quoted once. ``ask`` passes none:
embedding the candidate sentences made the answer step take over a second on a busy 2-core CPU,
and without it as many answers quote a gold answer (BENCHMARKS.md, benchmarks/answers.py).
Every ``AnswerSentence`` carries its exact span in the article body, so
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

import numpy as np

from askarchive.answer.facts import Span, best_span, kind_of, off_measure
from askarchive.answer.markdown import abstention_text, closest_markdown, sources_markdown
from askarchive.answer.sentences import (
    Sentence,
    candidates,
    coverage,
    idf_weights,
    names,
    query_weights,
)
from askarchive.answer.support import (
    ABSTAIN_THRESHOLD,
    article_terms,
    best_similarity,
    reporting,
    support,
    support_score,
)
from askarchive.models import Answer, AnswerSentence, Citation, DateWindow, Passage
from askarchive.text import DUPLICATE_SENTENCE_COSINE, content_terms, one_line

# Re-exported: callers and tests import these from here.
__all__ = [
    "ABSTAIN_THRESHOLD",
    "abstain",
    "extractive_answer",
    "query_weights",
    "reporting",
    "sources_block",
    "support",
]

MMR_LAMBDA = 0.7
# Added to the relevance of a sentence that holds the kind of fact the question asks for
# (facts.py). Chosen with benchmarks/newsqa.py and checked on benchmarks/answers.py (SQuAD).
FACT_WEIGHT = 0.2
# A figure of another measure than the one asked (a percentage where the question asks what
# something cost: facts.off_measure) earns this share of FACT_WEIGHT.
OFF_MEASURE_SHARE = 0.5
# When some sentence holds such a fact, the relevance of those that do not is scaled by this:
# a sentence that only restates the question's words does not answer it.
NO_FACT_FACTOR = 0.6
# A sentence holding the asked-for fact is answer material even from a passage less similar
# to the question than the best one, when its relevance reaches this share of the best.
FACT_REL_FLOOR = 0.8
# Share of a sentence's word score taken from its context (the sentence before it and the
# title) rather than from its own words.
CONTEXT_WEIGHT = 0.5
# Two articles whose titles share this much (Jaccard of content words) are one series: the
# weekly money supply, a season's match reports.
SERIES_TITLE_JACCARD = 0.6
# Weight of the passage's own similarity to the question (the cosine retrieval already computed)
# in a sentence's relevance, next to the idf-weighted share of the question's words it holds.
# Chosen with benchmarks/answers.py: at 0.5 the gold-answer rate and answer length equal those of
# the sentence embeddings this replaced.
PASSAGE_WEIGHT = 0.5
# Sentences considered per answer; bounds the selection work when many passages are retrieved.
MAX_CANDIDATES = 64
# Sentences embedded when a caller passes ``embed``: the model call dominates the answer step,
# so only the best lexically ranked ones are embedded.
MAX_EMBEDDED = 10
# A sentence must score at least this share of the best sentence's relevance to be quoted.
RELATIVE_FLOOR = 0.5
# Passages whose similarity to the question trails the best one by more than this are
# related reading, not answer material.
PASSAGE_MARGIN = 0.15
# Word overlap at which two sentences count as the same sentence (wire repeats, light edits);
# with embedded sentences, text.DUPLICATE_SENTENCE_COSINE too.
DUPLICATE_JACCARD = 0.7


_BLOCK_START = re.compile(r"^(?:#|>|[-*+=_|~`]|\d{1,9}[.)](?=\s|$))")

Embed = Callable[[list[str]], np.ndarray]


def _unit_rows(vecs: np.ndarray) -> np.ndarray:
    vecs = np.asarray(vecs, dtype=np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.where(norms > 0, norms, 1.0)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if (a or b) else 1.0


def _select(
    cands: Sequence[Sentence],
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
        return vecs is not None and float(vecs[i] @ vecs[j]) >= DUPLICATE_SENTENCE_COSINE

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


def sources_block(citations: Sequence[Citation]) -> str:
    """``**Sources**`` and one list item per citation: ``[n] Title (date) — path:start-end``.

    A Markdown list, so each source renders on its own line; paths are absolute here (the
    CLI and the chat show them relative to the indexed folder, see ``markdown.py``).
    """
    return sources_markdown(citations)


def abstain(
    question: str,
    passages: Sequence[Passage],
    *,
    window: DateWindow | None = None,
    query_used: str | None = None,
) -> Answer:
    """The answer that says the archive has nothing, with the closest passages to read.

    "I found nothing in the archive that answers this question.", then the date window in
    words when one was used, then ``Closest passages:`` and one list item per passage.
    """
    query = query_used or question
    text = abstention_text(window)
    if passages:
        text += "\n\n" + closest_markdown(passages)
    return Answer(
        text=text,
        sentences=[],
        citations=[],
        abstained=True,
        query_used=query,
        window=window,
        related=list(passages),
    )


def _in_context(passages: Sequence[Passage], cands: Sequence[Sentence]) -> list[frozenset[str]]:
    """Each sentence's words with those of the sentence before it and of its article's title:
    news sentences lean on their context ("Imports totalled 8,285 tonnes" after a sentence
    about Japan's chocolate)."""
    titles = [frozenset(content_terms(p.citation.title)) for p in passages]
    out: list[frozenset[str]] = []
    for i, c in enumerate(cands):
        before = cands[i - 1].terms if i and cands[i - 1].passage == c.passage else frozenset()
        out.append(c.terms | before | titles[c.passage])
    return out


def _relevance(
    query: str,
    weights: dict[str, float],
    passages: Sequence[Passage],
    cands: list[Sentence],
    query_vector: np.ndarray | None,
    embed: Embed | None,
) -> tuple[list[Sentence], np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The candidates kept, their relevance and word scores, and with ``embed`` cosines, vectors."""
    lex_weights = idf_weights(weights, cands)
    lex = np.array([coverage(lex_weights, c.terms) for c in cands], dtype=np.float32)
    if CONTEXT_WEIGHT:
        ctx = np.array(
            [coverage(lex_weights, terms) for terms in _in_context(passages, cands)],
            dtype=np.float32,
        )
        lex = (1 - CONTEXT_WEIGHT) * lex + CONTEXT_WEIGHT * ctx
    # Keyword-only hits have no similarity: they count as 0 and rank on their words.
    sims = np.array([passages[c.passage].similarity or 0.0 for c in cands], dtype=np.float32)
    bonus = PASSAGE_WEIGHT * sims + np.array([0.05 / (1 + c.passage) for c in cands], np.float32)
    rel = lex + bonus
    cap = MAX_CANDIDATES if embed is None else MAX_EMBEDDED
    if len(cands) > cap:
        keep = sorted(sorted(range(len(cands)), key=lambda i: -rel[i])[:cap])
        cands = [cands[i] for i in keep]
        lex, bonus, rel = lex[keep], bonus[keep], rel[keep]
    if embed is None:
        return cands, rel, lex, None, None
    texts = [c.text for c in cands]
    if query_vector is None:
        rows = _unit_rows(embed([query, *texts]))
        qvec, vecs = rows[0], rows[1:]
    else:
        vecs = _unit_rows(embed(texts))
        qvec = _unit_rows(np.asarray(query_vector, dtype=np.float32).reshape(1, -1))[0]
    dense = vecs @ qvec
    return cands, 0.55 * dense + 0.45 * lex + bonus, lex, dense, vecs


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

    Sentences are ranked by words and passage similarity. ``embed``, when given, adds meaning:
    it is called once, with the ``MAX_EMBEDDED`` best-ranked sentences (and the query, when no
    ``query_vector`` is given). ``related`` lists the passages not cited.
    """
    query = query_used or question
    retrieved = list(passages)
    passages = reporting(question, passages, window)
    cands = candidates(passages)
    weights = query_weights(query)
    if not passages or not cands:
        return abstain(question, retrieved, window=window, query_used=query_used)
    best_passage = best_similarity(passages)
    articles = article_terms(passages, cands)
    score = support_score(weights, names(query), cands, best_passage, articles)
    if score < ABSTAIN_THRESHOLD:
        return abstain(question, retrieved, window=window, query_used=query_used)

    cands, rel, lex, dense, vecs = _relevance(query, weights, passages, cands, query_vector, embed)
    # Prefer sentences holding the kind of fact asked for: "how much" wants the sentence with
    # the figure, not the one that restates the question's words.
    kind = kind_of(question)
    asked = f"{question} {query}"
    facts = [best_span(c.text, kind, asked) if kind else None for c in cands]
    has_fact = np.array([f is not None for f in facts], dtype=bool)
    if has_fact.any():
        bonus = [
            FACT_WEIGHT * (OFF_MEASURE_SHARE if f is not None and off_measure(f, asked) else 1.0)
            for f in facts
        ]
        rel = np.where(has_fact, rel + np.asarray(bonus), rel * NO_FACT_FACTOR).astype(np.float32)
    best = float(rel.max())
    eligible = []
    for i in range(len(cands)):
        close = dense is not None and float(dense[i]) >= float(dense.max()) - 0.1
        # A sentence that shares a word with the question still has no place in the answer
        # when its whole passage is about something else (a skier in "Beirut marathon").
        sim = passages[cands[i].passage].similarity
        on_topic = best_passage is None or sim is None or sim >= best_passage - PASSAGE_MARGIN
        # ... unless the sentence itself holds the asked-for fact and ranks near the best.
        on_topic = on_topic or (facts[i] is not None and rel[i] >= FACT_REL_FLOOR * best)
        if rel[i] >= RELATIVE_FLOOR * best and (lex[i] > 0 or close) and on_topic:
            eligible.append(i)
    if eligible and facts[max(eligible, key=lambda i: rel[i])] is not None:
        eligible = _without_rivals(eligible, rel, cands, passages)
    chosen = _select(cands, rel, vecs, eligible, max(1, max_sentences))
    if not chosen:
        return abstain(question, retrieved, window=window, query_used=query_used)

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
            parts.append(f"{one_line(c.text)} [{number[p_index]}]")
        paragraphs.append(_markdown_safe(" ".join(parts)))
    citations = [passages[p].citation for p in order]
    cited = [passages[p] for p in order]
    lead = _lead(cands, facts, chosen, passages, number)
    if lead is not None:
        paragraphs.insert(0, f"**{_escape_inline(lead.text)}** [{lead.citation_index}]")
    text = "\n\n".join(paragraphs) + "\n\n" + sources_block(citations)
    return Answer(
        text=text,
        sentences=sentences,
        citations=citations,
        abstained=False,
        query_used=query,
        window=window,
        related=[p for p in retrieved if p not in cited],
        lead=lead,
    )


def _without_rivals(
    eligible: list[int], rel: np.ndarray, cands: Sequence[Sentence], passages: Sequence[Passage]
) -> list[int]:
    """Drop sentences from other reports of the same series as the best sentence's article:
    beside "M-1 rose 592 mln dlrs in the week ended March 4", another week's figure is a rival
    answer, not support."""
    top = passages[cands[max(eligible, key=lambda i: rel[i])].passage]
    title = frozenset(content_terms(top.citation.title))

    def rival(p: Passage) -> bool:
        if p.article_id == top.article_id or p.citation.date == top.citation.date:
            return False
        return _jaccard(title, frozenset(content_terms(p.citation.title))) >= SERIES_TITLE_JACCARD

    return [i for i in eligible if not rival(passages[cands[i].passage])]


def _lead(
    cands: Sequence[Sentence],
    facts: Sequence[Span | None],
    chosen: Sequence[int],
    passages: Sequence[Passage],
    number: dict[int, int],
) -> AnswerSentence | None:
    """The fact span of the best-ranked quoted sentence that has one, as an exact cited span."""
    for i in chosen:
        fact = facts[i]
        if fact is None or fact.kind == "reason":
            continue  # a reason is a clause, not a short fact: the sentence itself leads
        c = cands[i]
        cit = passages[c.passage].citation
        exact = cit.end - cit.start == len(passages[c.passage].text)
        start = cit.start + c.start + fact.start
        return AnswerSentence(
            text=fact.text,
            citation_index=number[c.passage],
            start=start if exact else None,
            end=start + len(fact.text) if exact else None,
        )
    return None


def _escape_inline(text: str) -> str:
    """``text`` safe inside ``**...**``: one line, emphasis and code markers escaped."""
    return re.sub(r"([\\*_`\[\]<>])", r"\\\1", one_line(text))
