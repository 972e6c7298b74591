"""The small typed records that cross module boundaries.

Everything here is plain data: no I/O, no heavy imports, so any layer (core, CLI, TUI, tests) can
import it cheaply.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

DateSource = Literal["metadata", "inferred"]


@dataclass(frozen=True, slots=True)
class Article:
    """One article as ingested. ``body`` is the text every citation offset points into."""

    id: str
    title: str
    body: str
    path: str
    source_id: str | None = None
    date: dt.date | None = None
    date_source: DateSource | None = None
    url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of an article body: ``text == article.body[start:end]``."""

    article_id: str
    seq: int
    start: int
    end: int
    text: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file or record that could not be indexed, and why, in words a user can act on."""

    path: str
    reason: str


WindowUse = Literal["filter", "hint"]


def date_range(since: str | dt.date | None, until: str | dt.date | None) -> str:
    """``2016-01-01 to …``: how a pair of dates is written for people, an open end as ``…``.

    Dates print as ISO; typed dates (``2016``, ``2016-06``) print as typed.
    """
    return f"{since or '…'} to {until or '…'}"


@dataclass(frozen=True, slots=True)
class Filters:
    """What every question of a conversation is limited to until cleared: dates as typed
    (YYYY[-MM[-DD]]) and part of a source path. The chat, its saved sessions and their
    export all describe them with ``describe``."""

    since: str | None = None
    until: str | None = None
    source: str | None = None

    @classmethod
    def of(cls, since: str | None, until: str | None, source: str | None) -> Filters:
        """Filters from typed text: blank fields are no filter."""
        return cls(
            (since or "").strip() or None,
            (until or "").strip() or None,
            (source or "").strip() or None,
        )

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.source)

    def describe(self) -> str:
        """``dates 2016 to …, source ~ syria``, or ``no filters``."""
        parts = []
        if self.since or self.until:
            parts.append(f"dates {date_range(self.since, self.until)}")
        if self.source:
            parts.append(f"source ~ {self.source}")
        return ", ".join(parts) if parts else "no filters"


@dataclass(frozen=True, slots=True)
class DateWindow:
    """An inclusive publication-date window. ``phrase`` is the query text it came from, if any.

    ``use`` says how retrieval applied it: a ``"filter"`` keeps only articles published inside
    it; a ``"hint"`` (a date read from a question's words, which usually names when an *event*
    happened) ranks articles published in or soon after it above the others and removes none.
    ``note`` says what retrieval did beyond that, e.g. that a filter matched too little and was
    widened.
    """

    since: dt.date | None = None
    until: dt.date | None = None
    origin: Literal["explicit", "query", "conversation"] = "explicit"
    phrase: str | None = None
    use: WindowUse = "filter"
    note: str | None = None

    def contains(self, day: dt.date | None) -> bool:
        if day is None:
            return False
        if self.since is not None and day < self.since:
            return False
        return not (self.until is not None and day > self.until)

    def describe(self) -> str:
        return date_range(self.since, self.until)

    def explain(self) -> str:
        """One line for people: the dates, where they came from and how they were used."""
        source = f'"{self.phrase}"' if self.phrase else "--since/--until"
        if self.origin == "conversation":
            source = "an earlier question"
        if self.use == "hint":
            text = f"{self.describe()} from {source}, as a hint: articles published then rank first"
        else:
            text = f"{self.describe()} from {source}, as a filter: only articles published then"
        return f"{text}; {self.note}" if self.note else text


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a passage came from: ``archive.article(article_id).body[start:end]`` is the passage."""

    article_id: str
    title: str
    date: dt.date | None
    path: str
    url: str | None
    start: int
    end: int

    @property
    def label(self) -> str:
        when = self.date.isoformat() if self.date else "undated"
        return f"{self.title} ({when}) {self.path}:{self.start}-{self.end}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["date"] = self.date.isoformat() if self.date else None
        out["label"] = self.label
        return out


@dataclass(frozen=True, slots=True)
class Passage:
    """One search hit. ``duplicates`` lists near-identical articles collapsed into this hit."""

    text: str
    score: float
    article_id: str
    chunk_id: int
    citation: Citation
    window: DateWindow | None = None
    duplicates: tuple[Citation, ...] = ()
    dense_rank: int | None = None
    keyword_rank: int | None = None
    # Cosine similarity of query and chunk embeddings (None when only keyword search found it);
    # answer.py uses it to decide whether the archive supports an answer at all.
    similarity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "score": self.score,
            "article_id": self.article_id,
            "chunk_id": self.chunk_id,
            "citation": self.citation.to_dict(),
            "duplicates": [c.to_dict() for c in self.duplicates],
            "dense_rank": self.dense_rank,
            "keyword_rank": self.keyword_rank,
            "similarity": self.similarity,
            "window": _window_dict(self.window),
        }


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier exchange of a conversation, as follow-up rewriting needs it."""

    question: str
    query_used: str
    answer_text: str = ""
    window: DateWindow | None = None


@dataclass(frozen=True, slots=True)
class AnswerSentence:
    """One sentence of an answer and the 1-based number of the source it cites.

    ``supported`` is None for extractive sentences (verbatim by construction) and a verdict for
    sentences an LLM wrote.
    """

    text: str
    citation_index: int | None
    # Exact span of this sentence in the cited article body, when known (always for extractive).
    start: int | None = None
    end: int | None = None
    supported: bool | None = None
    note: str | None = None


@dataclass(slots=True)
class Answer:
    text: str
    sentences: list[AnswerSentence]
    citations: list[Citation]
    abstained: bool
    query_used: str
    window: DateWindow | None = None
    related: list[Passage] = field(default_factory=list)
    notice: str | None = None
    mode: Literal["extractive", "llm"] = "extractive"
    # The shortest span stating the asked-for fact (a figure, name, date, place or reason),
    # shown first and cited; None when the question asks for no such fact or no sentence has one.
    lead: AnswerSentence | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "lead": asdict(self.lead) if self.lead is not None else None,
            "sentences": [asdict(s) for s in self.sentences],
            "citations": [c.to_dict() for c in self.citations],
            "abstained": self.abstained,
            "query_used": self.query_used,
            "window": _window_dict(self.window),
            "related": [p.to_dict() for p in self.related],
            "notice": self.notice,
            "mode": self.mode,
        }


@dataclass(slots=True)
class IndexReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks: int = 0  # chunks embedded in this run
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    # Indexed, but with a caveat the user should know (e.g. invalid UTF-8 replaced).
    warnings: list[Skipped] = field(default_factory=list)
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        return out


@dataclass(frozen=True, slots=True)
class Stats:
    articles: int
    chunks: int
    model: str
    first_date: dt.date | None
    last_date: dt.date | None
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["first_date"] = self.first_date.isoformat() if self.first_date else None
        out["last_date"] = self.last_date.isoformat() if self.last_date else None
        return out


def _window_dict(window: DateWindow | None) -> dict[str, Any] | None:
    if window is None:
        return None
    return {
        "since": window.since.isoformat() if window.since else None,
        "until": window.until.isoformat() if window.until else None,
        "origin": window.origin,
        "phrase": window.phrase,
        "use": window.use,
        "note": window.note,
    }
