"""How well retrieved passages support answering a question: the abstention side of answers.

``support`` scores the passages a question retrieved, roughly 0..1; below ``ABSTAIN_THRESHOLD``
the answer says the archive has nothing on it. ``reporting`` sets aside passages that cannot
report the event a question dates. Split out of ``extractive.py``, which ranks and quotes sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from askarchive.answer.sentences import (
    Sentence,
    candidates,
    coverage,
    names,
    query_weights,
)
from askarchive.models import DateWindow, Passage
from askarchive.text import content_terms

ABSTAIN_THRESHOLD = 0.45
"""Minimum ``support`` for an extractive answer; below it the answer abstains.

Calibrated by ``benchmarks/answers.py`` (SQuAD-dev whole articles, half of them deleted, 400
questions; table in BENCHMARKS.md): at 0.45 abstention precision is 0.966 and recall 0.837 while
97% of answerable questions still get an answer. The F1-best 0.55 would drop 9% of answerable
questions; a reader loses more from a missing answer it could have checked than from a cited
passage it can see is off-topic. ``support`` does not depend on how sentences are ranked, so
ranking changes leave this calibration intact.
"""

# Questions about what was expected are answered by articles written before the event.
_EXPECTATION = re.compile(
    r"\b(?:forecast|predict|project(?:ed|ion|ions)?|expect(?:ed|s)?|plan(?:ned|s)?|will|would"
    r"|target(?:ed|s)?|estimate[ds]?|outlook|scheduled|due\s+to|prospects?|hope[ds]?)\b",
    re.IGNORECASE,
)


def support_score(
    weights: dict[str, float],
    groups: list[set[str]],
    cands: Sequence[Sentence],
    best_sim: float | None,
    articles: Sequence[set[str]] = (),
) -> float:
    """See ``support``. ``articles``: the words of the candidates of each article."""
    # Plain query weights, not idf ones: ABSTAIN_THRESHOLD was calibrated on this score.
    ranked = sorted(cands, key=lambda c: coverage(weights, c.terms), reverse=True)[:3]
    union: set[str] = set().union(*(c.terms for c in ranked)) if ranked else set()
    overlap = coverage(weights, union)
    score = overlap
    if best_sim is not None:
        score = 0.5 * overlap + 0.5 * min(1.0, max(0.0, (best_sim - 0.2) / 0.4))
    if groups:
        # Asking about a name the passages never mention is the clearest sign of a miss. A
        # name of several words counts only where one article holds them all: "World Cup" and
        # "Rugby" in different stories do not make "Rugby World Cup".
        found = sum(
            max((len(group & terms) / len(group) for terms in articles), default=0.0)
            for group in groups
        ) / len(groups)
        score *= 0.4 + 0.6 * found
    return score


def article_terms(passages: Sequence[Passage], cands: Sequence[Sentence]) -> list[set[str]]:
    """The words each article shows in its title and retrieved sentences."""
    by_article: dict[str, set[str]] = {}
    for p in passages:
        by_article.setdefault(p.article_id, set()).update(content_terms(p.citation.title))
    for c in cands:
        by_article[passages[c.passage].article_id].update(c.terms)
    return list(by_article.values())


def best_similarity(passages: Sequence[Passage]) -> float | None:
    sims = [p.similarity for p in passages if p.similarity is not None]
    return max(sims) if sims else None


def reporting(
    question: str, passages: Sequence[Passage], window: DateWindow | None
) -> list[Passage]:
    """The passages that could report what the question asks about: an article published
    before the date the question's words give its event cannot (undated ones are kept).
    Questions about expectations ("what did X forecast for 1988") keep every passage."""
    if window is None or window.use != "hint" or window.since is None:
        return list(passages)
    if _EXPECTATION.search(question):
        return list(passages)
    since = window.since
    return [p for p in passages if p.citation.date is None or p.citation.date >= since]


def support(
    question: str,
    passages: Sequence[Passage],
    *,
    query_used: str | None = None,
    window: DateWindow | None = None,
) -> float:
    """How well the passages support answering ``question``, roughly 0..1.

    Half the best passage's dense cosine (scaled from 0.2..0.6 to 0..1; absent for keyword-only
    hits) and half the weighted share of the question's content words found in its three best
    sentences, shrunk when names in the question appear in none of the passages.
    """
    if not passages:
        return 0.0
    query = query_used or question
    passages = reporting(question, passages, window)
    cands = candidates(passages)
    return support_score(
        query_weights(query),
        names(query),
        cands,
        best_similarity(passages),
        article_terms(passages, cands),
    )
