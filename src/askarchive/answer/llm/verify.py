"""Checking an LLM-written answer against the passages it was given.

The model is told to end every sentence with ``[n]`` markers. Here each sentence is split out,
its markers parsed, and the claim compared with the cited passages: enough of its content words
must occur in them (and every number it states), or, when an embedding function is available,
some sentence of a cited passage must be close to it in meaning. Sentences that fail keep their
place in the answer but are flagged, so a reader sees exactly which claims lack support.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from askarchive.answer.extractive import sources_block
from askarchive.models import AnswerSentence, Citation, Passage
from askarchive.text import STOPWORDS, WORD, sentence_spans, word_set

# Share of a sentence's content words that must occur in the cited passages. LLM answers
# paraphrase, so demanding every word would flag faithful sentences; below about half, a
# sentence is usually stating something the passage does not.
OVERLAP_MIN = 0.6
# Cosine between the sentence and its closest sentence in a cited passage (normalised vectors).
# For all-MiniLM-L6-v2, restatements of one fact score well above this and sentences that only
# share a topic mostly fall below it.
COSINE_MIN = 0.7
# Adjacent passage sentences a claim's words are matched against (see _Vocabulary).
WINDOW = 2
FLAG = "⚠"

Embed = Callable[[list[str]], np.ndarray]

# [1]  [1, 2]  [1;2]  [1-3]; adjacent groups like [1][2] are separate matches.
_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;\-–]\s*\d{1,3})*)\s*\]")
_LEADING_MARKERS = re.compile(r"^\s*(?:\[\s*\d{1,3}(?:\s*[,;\-–]\s*\d{1,3})*\s*\]\s*)+")
# Words that say where a claim came from, not what it claims, never count as support.
_STOPWORDS = STOPWORDS | word_set(
    """according reported report reports passage passages source sources archive article
    articles cited cite however therefore thus may might must shall one"""
)
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august")
_MONTHS += ("september", "october", "november", "december")


@dataclass(frozen=True, slots=True)
class CheckedSentence:
    """A sentence of the answer with its span in the answer text and its verdict."""

    start: int  # span in the answer text, markers included
    end: int
    claim: str  # the sentence without its markers
    cited: tuple[int, ...]
    supported: bool
    note: str | None
    citation_index: int | None
    source_span: tuple[int, int] | None  # where the claim occurs verbatim in the article body


def parse_markers(text: str) -> list[int]:
    """Passage numbers cited in ``text``, in order of first appearance, without repeats."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            bounds = re.split(r"\s*[\-–]\s*", part)
            lo, hi = int(bounds[0]), int(bounds[-1])
            # A range is only read as one when it is small; "[2010-2012]" is not citing 3 passages.
            numbers = range(lo, hi + 1) if 0 <= hi - lo <= 20 else (lo, hi)
            for n in numbers:
                if n not in seen:
                    seen.append(n)
    return seen


def strip_markers(text: str) -> str:
    cleaned = _MARKER.sub("", text)
    cleaned = re.sub(r"\s+([.,;:!?])", r"\1", cleaned)
    return re.sub(r"\s+", " ", cleaned).strip()


def marked_sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (``text.sentence_spans``), with citation markers kept with
    the sentence they close.

    Not ``sentence_spans`` itself: the splitter cuts "… said. [2] Then …" after "said.", which
    would leave a claim without its marker and make "[2]" a sentence of its own. Passages go
    through the same function so that a claim and the sentences it is checked against are cut
    alike.
    """
    spans: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        piece = text[start:end]
        lead = _LEADING_MARKERS.match(piece)
        # "… said. [2] Then …": markers opening a sentence belong to the one before it.
        if lead and spans and text[spans[-1][1] : start].strip() == "":
            spans[-1] = (spans[-1][0], start + lead.end())
            start += lead.end()
        if text[start:end].strip():
            spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        # A line holding only markers or punctuation is not a sentence of its own.
        if merged and not WORD.search(_MARKER.sub("", text[start:end])):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return [(a, b - (len(text[a:b]) - len(text[a:b].rstrip()))) for a, b in merged]


def _stem(word: str) -> str:
    # Crude on purpose: it only needs to make "talks"/"talk" and "killed"/"killing" meet. Looser
    # than text.normalize_term (plurals only), because an LLM paraphrases the passage it cites.
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    words = []
    for raw in WORD.findall(text.lower()):
        if raw in _STOPWORDS or (len(raw) == 1 and not raw.isdigit()):
            continue
        words.append(raw if any(ch.isdigit() for ch in raw) else _stem(raw))
    return words


class _Vocabulary:
    """A passage's content words: all of them, and per window of adjacent sentences."""

    def __init__(self, passage: Passage) -> None:
        cit: Citation = passage.citation
        meta = set(content_words(cit.title))
        day: dt.date | None = cit.date
        if day is not None:
            meta |= set(content_words(f"{day.isoformat()} {day.year} {day.day}"))
            meta.add(_stem(_MONTHS[day.month - 1]))
        sentences = [
            set(content_words(passage.text[a:b])) for a, b in marked_sentence_spans(passage.text)
        ]
        # Matching a claim against a few adjacent sentences rather than the whole passage stops
        # a sentence stitched from words scattered over the passage from passing as supported.
        self.windows = [
            meta.union(*sentences[i : i + WINDOW])
            for i in range(max(1, len(sentences) - WINDOW + 1))
        ]
        self.all = meta.union(*sentences)

    def best_window(self, words: Sequence[str]) -> set[str]:
        return max(self.windows, key=lambda pool: sum(w in pool for w in words))


def _verbatim_span(claim: str, passage: Passage) -> tuple[int, int] | None:
    body = claim.rstrip(".!?").strip()
    if len(body) < 12:
        return None
    at = passage.text.find(body)
    if at < 0:
        return None
    return passage.citation.start + at, passage.citation.start + at + len(body)


class _Similarity:
    """Best cosine between a claim and any sentence of a passage, embedding everything once."""

    def __init__(self, embed: Embed, claims: list[str], passages: Sequence[Passage]) -> None:
        pieces: list[str] = []
        self._owner: list[int] = []
        for number, passage in enumerate(passages, start=1):
            for a, b in marked_sentence_spans(passage.text):
                pieces.append(passage.text[a:b])
                self._owner.append(number)
        vecs = np.asarray(embed(list(claims) + pieces), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = vecs / np.where(norms == 0, 1.0, norms)
        self._claims, self._pieces = vecs[: len(claims)], vecs[len(claims) :]
        self._owner_arr = np.asarray(self._owner, dtype=np.int64)

    def best(self, claim_no: int, numbers: Sequence[int]) -> float:
        mask = np.isin(self._owner_arr, list(numbers))
        if not mask.any():
            return 0.0
        return float((self._pieces[mask] @ self._claims[claim_no]).max())


def check_answer(
    text: str, passages: Sequence[Passage], embed: Embed | None = None
) -> list[CheckedSentence]:
    spans = [(a, b) for a, b in marked_sentence_spans(text) if strip_markers(text[a:b])]
    claims = [strip_markers(text[a:b]) for a, b in spans]
    similarity = _Similarity(embed, claims, passages) if embed is not None and claims else None
    vocab = [_Vocabulary(p) for p in passages]
    out: list[CheckedSentence] = []
    for i, ((a, b), claim) in enumerate(zip(spans, claims, strict=True)):
        cited = tuple(parse_markers(text[a:b]))
        valid = [n for n in cited if 1 <= n <= len(passages)]
        bad = [n for n in cited if n not in valid]
        supported, note = False, None
        first = valid[0] if valid else None
        if not cited:
            note = "no citation"
        elif bad:
            have = f"only {len(passages)} passage" + ("" if len(passages) == 1 else "s")
            note = f"cites {_refs(bad)} but there are {have}"
        else:
            words = content_words(claim)
            everything = set().union(*(vocab[n - 1].all for n in valid))
            missing_numbers = [w for w in words if w.isdigit() and w not in everything]
            # Several citations may each support part of the claim: one window per passage.
            pool = set().union(*(vocab[n - 1].best_window(words) for n in valid))
            found = sum(w in pool for w in words)
            overlap = found / len(words) if words else 1.0
            cosine = similarity.best(i, valid) if similarity is not None else 0.0
            if missing_numbers:
                note = f"not supported by {_refs(valid)} ({missing_numbers[0]} is not in it)"
            elif overlap >= OVERLAP_MIN or cosine >= COSINE_MIN:
                supported = True
            else:
                note = f"not supported by {_refs(valid)}"
        source_span = None
        if first is not None:
            for n in valid:
                source_span = _verbatim_span(claim, passages[n - 1])
                if source_span:
                    first = n
                    break
        out.append(CheckedSentence(a, b, claim, cited, supported, note, first, source_span))
    return out


def _refs(numbers: Sequence[int]) -> str:
    return "".join(f"[{n}]" for n in numbers)


def verify_sentences(
    text: str, passages: Sequence[Passage], embed: Embed | None = None
) -> list[AnswerSentence]:
    """One ``AnswerSentence`` per sentence of ``text``, its markers removed from ``text``."""
    return [to_answer_sentence(c) for c in check_answer(text, passages, embed)]


def to_answer_sentence(checked: CheckedSentence) -> AnswerSentence:
    start, end = checked.source_span if checked.source_span else (None, None)
    return AnswerSentence(
        text=checked.claim,
        citation_index=checked.citation_index,
        start=start,
        end=end,
        supported=checked.supported,
        note=checked.note,
    )


def render(text: str, checked: Sequence[CheckedSentence], citations: Sequence[Citation]) -> str:
    """The answer as shown: flagged sentences marked in place, a footnote per flag, sources."""
    out, pos = [], 0
    for c in checked:
        if not c.supported:
            out.append(text[pos : c.end] + f" {FLAG}")
            pos = c.end
    out.append(text[pos:])
    body = "".join(out).strip()
    flagged = [c for c in checked if not c.supported]
    if flagged:
        notes = [f"{FLAG} unsupported: “{_clip(c.claim)}” — {c.note}" for c in flagged]
        body += "\n\n" + "\n".join(notes)
    return body + "\n\n" + sources_block(citations)


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
