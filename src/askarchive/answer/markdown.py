"""How answers, sources and date windows are worded for people, in the CLI and in the chat.

``Answer.text`` is the API's Markdown: the answer, then a sources list (or, for an abstention, the
closest passages) with absolute paths. The wording of those blocks lives here, and so do the display
forms built from the same data: paths relative to the folder that was indexed, one source per line,
and plain text (no Markdown markup) for output that is not a terminal.

Nothing here parses article text as Rich markup; callers wrap it in ``rich.text.Text`` or escape
it for Markdown.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from askarchive.models import Answer, Citation, DateWindow, Passage
from askarchive.text import one_line

NO_ANSWER = "I found nothing in the archive that answers this question."
SOURCES = "Sources"
CLOSEST = "Closest passages:"

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

Roots = Sequence[str | Path]


# -- paths ------------------------------------------------------------------------------------
class _HasRoots(Protocol):
    # An ``Archive``, named by what is used so this module does not import the facade.
    def roots(self) -> list[Path]: ...


def indexed_roots(archive: _HasRoots) -> list[Path]:
    """The folders (and files) given to ``index`` for this archive, as recorded in its store."""
    return archive.roots()


def root_relative(path: str, roots: Roots) -> str | None:
    """``path`` as ``<indexed folder name>/<path inside it>``, using the outermost indexed root
    that holds it; None when no root does."""
    best: str | None = None
    for root in roots:
        r = str(root).rstrip(os.sep)
        if not r:
            continue
        if (path == r or path.startswith(r + os.sep)) and (best is None or len(r) < len(best)):
            best = r
    if best is None:
        return None
    name = os.path.basename(best)
    inside = path[len(best) + 1 :]
    rel = os.path.join(name, inside) if inside else name
    return rel.replace(os.sep, "/")


def display_path(path: str, roots: Roots = ()) -> str:
    """``path`` relative to the indexed folder that holds it, else unchanged (absolute)."""
    return root_relative(path, roots) or path


# -- sources ----------------------------------------------------------------------------------
def when(cit: Citation) -> str:
    return cit.date.isoformat() if cit.date else "undated"


def citation_line(cit: Citation, number: int | None = None, roots: Roots = ()) -> str:
    """``[1] Title (2016-06-03) — archive/foo.txt:120-480`` (no number: no ``[n]``)."""
    label = f"[{number}] " if number is not None else ""
    where = f"{display_path(cit.path, roots)}:{cit.start}-{cit.end}"
    return f"{label}{cit.title} ({when(cit)}) — {where}"


def source_lines(citations: Sequence[Citation], roots: Roots = ()) -> list[str]:
    return [citation_line(c, n, roots) for n, c in enumerate(citations, start=1)]


def closest_lines(passages: Sequence[Passage], roots: Roots = ()) -> list[str]:
    return [f"- {citation_line(p.citation, None, roots)}" for p in passages]


def sources_markdown(citations: Sequence[Citation], roots: Roots = ()) -> str:
    """The sources as a Markdown list, so each renders on its own line."""
    return f"**{SOURCES}**\n\n" + "\n".join(f"- {line}" for line in source_lines(citations, roots))


def closest_markdown(passages: Sequence[Passage], roots: Roots = ()) -> str:
    return f"{CLOSEST}\n\n" + "\n".join(closest_lines(passages, roots))


# -- date windows -----------------------------------------------------------------------------
def _day(d: dt.date) -> str:
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def _month_start(d: dt.date) -> bool:
    return d.day == 1


def _month_end(d: dt.date) -> bool:
    return (d + dt.timedelta(days=1)).day == 1


def window_words(window: DateWindow | None) -> str | None:
    """The window as people say it: "in June 2016", "from 2012 to 2014", "on 3 May 2016"."""
    if window is None:
        return None
    lo, hi = window.since, window.until
    if lo and hi:
        if lo == hi:
            return f"on {_day(lo)}"
        if _month_start(lo) and _month_end(hi):
            if lo.month == 1 and hi.month == 12:
                return f"in {lo.year}" if lo.year == hi.year else f"from {lo.year} to {hi.year}"
            m1, m2 = _MONTHS[lo.month - 1], _MONTHS[hi.month - 1]
            if (lo.year, lo.month) == (hi.year, hi.month):
                return f"in {m1} {lo.year}"
            if lo.year == hi.year:
                return f"from {m1} to {m2} {lo.year}"
            return f"from {m1} {lo.year} to {m2} {hi.year}"
        return f"from {_day(lo)} to {_day(hi)}"
    if lo:
        return f"on or after {_day(lo)}"
    if hi:
        return f"on or before {_day(hi)}"
    return None


def window_sentence(window: DateWindow | None) -> str | None:
    """One sentence on how the window was used, or None without one."""
    words = window_words(window)
    if window is None or words is None:
        return None
    if window.use == "hint":
        return f"I searched all dates, ranking articles published {words} first."
    return f"I searched only articles published {words}."


def abstention_text(window: DateWindow | None) -> str:
    """What an answer says when the archive holds nothing that answers the question."""
    extra = window_sentence(window)
    return f"{NO_ANSWER} {extra}" if extra else NO_ANSWER


# -- answers for display ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AnswerParts:
    """An answer split for display: the Markdown body, then a heading and one line per source.

    ``lines`` is None when the answer's text does not end with the block this module wrote
    (then ``body`` is the whole text and nothing else should be printed).
    """

    body: str
    heading: str
    lines: list[str] | None


def answer_parts(answer: Answer, roots: Roots = ()) -> AnswerParts:
    """The answer's own words, and its sources (or closest passages) with display paths."""
    if answer.abstained:
        heading, items = CLOSEST, answer.related
        tail = closest_markdown(items) if items else ""
        lines = closest_lines(items, roots)
    else:
        heading, cites = SOURCES, answer.citations
        tail = sources_markdown(cites) if cites else ""
        lines = source_lines(cites, roots)
    text = answer.text.rstrip()
    if not tail:
        return AnswerParts(text, heading, [])
    if text.endswith(tail):
        return AnswerParts(text[: -len(tail)].rstrip(), heading, lines)
    return AnswerParts(text, heading, None)


def is_finished_answer(text: str) -> bool:
    """True for a whole answer's text (it holds the sources list or opens with the no-answer
    sentence), as opposed to a piece of a streamed reply. ``answering`` hands an extractive
    answer to ``on_token`` in one piece; streaming views skip it and show the final answer."""
    return f"\n**{SOURCES}**\n" in text or text.startswith(NO_ANSWER)


def hard_breaks(md: str) -> str:
    """Keep single line breaks as line breaks when rendered (Markdown would join the lines)."""
    paragraphs = md.split("\n\n")
    return "\n\n".join("  \n".join(s.rstrip() for s in p.split("\n")) for p in paragraphs)


# -- answers as Markdown (the chat and the session export) ------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&=$^\"'])")


def escape_markdown(text: str, *, flatten: bool = True) -> str:
    """Make archive text render literally inside Markdown: no links, emphasis, HTML or headings.

    Runs of whitespace become one space (an article's line break is not a paragraph on screen);
    ``flatten=False`` keeps them, for a piece of a streamed reply whose spacing is still arriving.
    """
    return _MD_SPECIAL.sub(r"\\\1", one_line(text) if flatten else text)


def answer_markdown(answer: Answer) -> str:
    """Answer sentences as one Markdown paragraph, each followed by its ``[n]`` marker.

    Sentences an LLM wrote that failed the support check carry a visible warning.
    """
    if not answer.sentences:
        return escape_markdown(answer.text)
    lead = ""
    if answer.lead is not None:
        # The asked-for fact first, highlighted and cited; its sentence follows in full.
        fact = escape_markdown(answer.lead.text)
        lead = f"**{fact}** \\[{answer.lead.citation_index}\\]\n\n"
    parts = []
    for s in answer.sentences:
        marker = f" \\[{s.citation_index}\\]" if s.citation_index else ""
        if s.supported is False:
            # An LLM sentence the check could not find in its source: say so where it is read.
            why = f": {escape_markdown(s.note)}" if s.note else ""
            marker += f" ⚠ *not supported by the source{why}*"
        parts.append(escape_markdown(s.text) + marker)
    return lead + " ".join(parts)


def abstention_markdown(answer: Answer, roots: Roots = ()) -> str:
    """What the archive lacks, then the closest passages one per line, all escaped."""
    parts = answer_parts(answer, roots)
    if parts.lines is None:  # an answer saved with older wording
        return escape_markdown(answer.text)
    md = escape_markdown(parts.body)
    if parts.lines:
        items = (escape_markdown(line.removeprefix("- ")) for line in parts.lines)
        md += f"\n\n{escape_markdown(parts.heading)}\n\n" + "\n".join(f"- {i}" for i in items)
    return md


def cited_sentences(answer: Answer, number: int) -> list[str]:
    """The answer sentences that cite source ``number`` (1-based)."""
    return [s.text for s in answer.sentences if s.citation_index == number]


def to_plain(md: str) -> str:
    """Markdown as plain text: emphasis markers and backslash escapes removed, links as their
    text, list items as ``- item`` one per line; line and paragraph breaks kept."""
    from markdown_it import MarkdownIt

    out: list[str] = []
    quote = ""  # "> " per open block quote
    marker = ""  # the list marker waiting for its item's first line
    numbers: list[int] = []
    tight = False  # the paragraph being read is an item of a tight list
    first = False  # the item being read is its list's first
    for tok in MarkdownIt("commonmark").parse(md):
        kind = tok.type
        if kind == "bullet_list_open":
            numbers.append(0)
            first = True
        elif kind == "ordered_list_open":
            numbers.append(int(str(tok.attrs.get("start", 1))) - 1)
            first = True
        elif kind in ("bullet_list_close", "ordered_list_close"):
            numbers.pop()
        elif kind == "list_item_open":
            if tok.markup in (".", ")"):
                numbers[-1] += 1
                marker = f"{numbers[-1]}{tok.markup} "
            else:
                marker = "- "
        elif kind == "blockquote_open":
            quote += "> "
        elif kind == "blockquote_close":
            quote = quote[:-2]
        elif kind == "paragraph_open":
            tight = tok.hidden
        elif kind in ("inline", "fence", "code_block", "html_block", "hr"):
            if kind == "inline":
                text = _inline_plain(tok.children or [])
            elif kind == "hr":
                text = "---"
            else:
                text = tok.content.rstrip("\n")
            lead = quote + marker
            lines = text.split("\n")
            rest = quote + " " * len(marker)
            block = "\n".join([lead + lines[0], *(rest + line for line in lines[1:])])
            joined = tight and bool(marker) and not first
            out.append(("\n" if joined else "\n\n") + block if out else block)
            if marker:
                first = False
            marker = ""
            tight = False
    return "".join(out)


def _inline_plain(children: Sequence[object]) -> str:
    parts: list[str] = []
    for child in children:
        kind = getattr(child, "type", "")
        if kind in ("text", "code_inline", "html_inline"):
            parts.append(getattr(child, "content", ""))
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "image":
            parts.append(getattr(child, "content", ""))
    return "".join(parts)


__all__ = [
    "CLOSEST",
    "NO_ANSWER",
    "SOURCES",
    "AnswerParts",
    "abstention_markdown",
    "abstention_text",
    "answer_markdown",
    "answer_parts",
    "citation_line",
    "cited_sentences",
    "closest_lines",
    "closest_markdown",
    "display_path",
    "escape_markdown",
    "hard_breaks",
    "indexed_roots",
    "is_finished_answer",
    "root_relative",
    "source_lines",
    "sources_markdown",
    "to_plain",
    "when",
    "window_sentence",
    "window_words",
]
