"""Words and sentences shared by chunking, retrieval, answering and verification.

One word pattern, one term normaliser, one stopword list and one sentence splitter for all of
them, so a sentence quoted in an answer is the same sentence the chunker kept whole and a word
of the question is the same term in every score.
"""

from __future__ import annotations

import re
import threading
from typing import Any


def word_set(text: str) -> frozenset[str]:
    """A constant set of words written as one whitespace-separated string."""
    return frozenset(text.split())


STOPWORDS = word_set("""
    a about above after again against ago al all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during each
    either else ever few for from further get got had has have having he her here hers herself
    him himself his how i if in into is it its itself just let me more most much my myself no nor
    not now of off on once only or other our ours ourselves out over own per same she should so
    some such than that the their theirs them themselves then there these they this those through
    to too under until up upon very was we were what whatever when where whether which while who
    whom whose why will with within without would yet you your yours yourself yourselves many
    say says said tell told know think mean happen happened happens anything something thing
    things way ways like also""")


# A word: a run of letters, digits and underscores; word counts and term lists all use it.
WORD = re.compile(r"\w+")
# The possessive ending of "Egypt's" or "Mansour’s", cut before words are taken.
POSSESSIVE = re.compile(r"(?<=\w)['’]s?\b")


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
    for word in WORD.findall(POSSESSIVE.sub("", text)):
        term = normalize_term(word)
        if word.lower() not in STOPWORDS and term not in STOPWORDS and term not in seen:
            seen[term] = None
    return list(seen)


# Month and weekday names, full and short: words that name a time, not a thing.
CALENDAR = word_set("""
    january february march april may june july august september october november december jan
    feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday
    sunday""")

# A word naming a people or a nation's things ("Norwegian", "French", "Saudi", "American"): an
# adjective, not a name a report must repeat or a pronoun can stand for.
DEMONYM = re.compile(r"(?:ian|ean|ese|ish|ch|ican|rman|i)$", re.IGNORECASE)


# Near-duplicates, judged by the cosine of normalised embeddings. Two thresholds because two
# different things are compared:
# - two articles' mean chunk vectors (search/retriever.py, with a publication-date limit): one
#   wire story retold. On the sample archive paraphrased wire repeats score 0.96 and distinct
#   stories on one topic at most 0.75.
# - two sentences (answer/extractive.py): the same sentence quoted twice, lightly edited. Only
#   used when a caller passes an embedding function, which ``ask`` no longer does; the value
#   dates from when it did and has not been tuned since.
DUPLICATE_ARTICLE_COSINE = 0.90
DUPLICATE_SENTENCE_COSINE = 0.92


# Hard-wrapped text (wire copy, e-mail, old plain-text archives) breaks lines at a fixed width
# inside paragraphs. Below this width a text is taken to be lines on purpose (lists, verse).
MIN_WRAP_WIDTH = 40
# Above it, lines are whole paragraphs (web pages, the Asharq Al-Awsat archive), never wrapped.
MAX_WRAP_WIDTH = 120
_BULLET = re.compile(r"(?:[-*•·+]|\d{1,3}[.)])\s")
_CLOSED = re.compile(r"[.!?:;\"”’')\]]$")


def _wrap_width(lengths: list[int]) -> int | None:
    """The column a text is wrapped at, or None when it does not look hard-wrapped."""
    if len(lengths) < 3:
        return None
    ordered = sorted(lengths)
    width = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    if not MIN_WRAP_WIDTH <= width <= MAX_WRAP_WIDTH:
        return None
    # Most lines of a wrapped paragraph run close to the width; lines written one per item
    # (tables, headlines) are short and ragged.
    near = sum(1 for n in lengths if n >= 0.75 * width)
    return width if near >= max(2, len(lengths) // 3) else None


def unwrap(text: str) -> str:
    """``text`` with its soft line breaks turned into spaces; the same length, so every offset
    into the result is an offset into ``text``.

    A break is soft when the text is hard-wrapped and the next line's first word would not have
    fitted on the line before: that is why a wrapping program broke there. A blank line, an
    indented or bulleted next line, or a short line that ends a sentence or stands alone (a
    heading, a table row) keeps its break.
    """
    lines = text.split("\n")
    lengths = [len(line.rstrip()) for line in lines if line.strip()]
    width = _wrap_width(lengths)
    if width is None:
        return text
    out = list(text)
    pos = 0
    for line, nxt in zip(lines, lines[1:], strict=False):
        end = pos + len(line)  # the "\n" after this line
        pos = end + 1
        body = line.rstrip()
        if not body.strip() or not nxt.strip() or nxt[:1].isspace() or _BULLET.match(nxt):
            continue
        first = nxt.split(None, 1)[0]
        wrapped = len(body) + 1 + len(first) > width
        # A paragraph's first line can be short for other reasons (a dateline cut off in front
        # of it): it still runs on when it stops without punctuation and a full line follows.
        runs_on = not _CLOSED.search(body) and len(nxt.rstrip()) >= 0.75 * width
        if wrapped or runs_on:
            out[end] = " "
            if line.endswith("\r"):
                out[end - 1] = " "
    return "".join(out)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text``, trimmed of whitespace, never empty, in order.

    Hard line breaks (paragraphs, headings, list items) always end a sentence; soft breaks of
    hard-wrapped text (``unwrap``) do not, so a wrapped sentence comes back whole. Offsets point
    into ``text`` itself.
    """
    flat = unwrap(text)
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n\r]+", flat):
        segment = line.group(0)
        if not segment.strip():
            continue
        for a, b in _sentence_offsets(segment):
            a, b = max(0, a), min(len(segment), b)
            while a < b and segment[a].isspace():
                a += 1
            while b > a and segment[b - 1].isspace():
                b -= 1
            if a < b:
                spans.append((line.start() + a, line.start() + b))
    return spans


_scratch = threading.local()


def _buffers(size: int) -> tuple[Any, Any, Any]:
    """Output buffers of at least ``size`` for blingfire, kept per thread and grown as needed
    (allocating and zeroing them for every line cost as much as the splitting)."""
    import ctypes

    held = getattr(_scratch, "buffers", None)
    if held is None or len(held[1]) < size:
        size = max(size, 4096)
        held = (
            ctypes.create_string_buffer(size),
            (ctypes.c_int32 * size)(),
            (ctypes.c_int32 * size)(),
        )
        _scratch.buffers = held
    return held


def _sentence_offsets(segment: str) -> list[tuple[int, int]]:
    """blingfire's sentence breaks of one line, as character offsets into it.

    The C library's own entry point, called as ``blingfire.text_to_sentences_and_offsets``
    calls it; that wrapper then maps byte offsets to characters in a Python loop over every
    byte, which took most of the chunker's time. Here an ASCII line needs no mapping and any
    other is mapped with numpy.
    """
    import ctypes

    import blingfire
    import numpy as np

    data = segment.encode("utf-8")
    size = len(data) * 2 + 1  # the wrapper's bound: the text plus a break after every byte
    out, starts, ends = _buffers(size)
    n = blingfire.blingfire.TextToSentencesWithOffsets(
        ctypes.c_char_p(data),
        ctypes.c_int(len(data)),
        ctypes.byref(out),
        ctypes.byref(starts),
        ctypes.byref(ends),
        ctypes.c_int(size),
    )
    if n == -1 or n > size:
        return [(0, len(segment))]
    # The buffer is reused: only its first ``n`` bytes are this line's output.
    count = ctypes.string_at(out, n).rstrip(b"\0").count(b"\n") + 1
    # Byte offsets: the first byte of a sentence, and the last byte of its last character.
    first = np.frombuffer(starts, np.int32, count)
    last = np.frombuffer(ends, np.int32, count) + 1
    if len(data) != len(segment):
        # The character each byte belongs to, and one past the end.
        lead = (np.frombuffer(data, np.uint8) & 0xC0) != 0x80
        char_at = np.append(np.cumsum(lead) - 1, len(segment))
        first, last = char_at[first], char_at[last]
    return list(zip(first.tolist(), last.tolist(), strict=True))


def one_line(text: object, limit: int | None = None) -> str:
    """``text`` with every run of whitespace (wrapped lines included) as one space: for display.

    With ``limit``, a longer result is cut to ``limit`` characters, the last one an ellipsis.
    """
    flat = " ".join(str(text).split())
    if limit is None or len(flat) <= limit:
        return flat
    return flat[: limit - 1] + "…"
