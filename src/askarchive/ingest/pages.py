"""Single-article text files: the archive's page format, and plain .txt/.md articles."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# No leading \s*: searching with one is quadratic in the line length; rstrip() the title instead.
_TITLE_SUFFIX_RE = re.compile(
    r"\|\s*asharq\s*al[-\s]?awsat\s+english\s+archive(?:\s*\d{4}\s*[-–]\s*\d{4})?\s*$", re.I
)
_SITE_HEADER_RE = re.compile(r"middle[-\s]?east\b.*\|\s*asharq\s*al[-\s]?awsat\s*$", re.I)
_NAV_RE = re.compile(
    r"(?:select page|menu|main menu|home|search|close|toggle navigation|skip to (?:main )?content"
    r"|navigation|back to top)\s*$",
    re.I,
)
_MEDIA_RE = re.compile(r"media\s*id\s*:\s*(.*)$", re.I)
_CAPTION_RE = re.compile(r"caption\s*:\s*(.*)$", re.I)
_PAGE_HEADER_LINES = 15
_MAX_CAPTION_GAP = 2

# Trailing page furniture: a marker line after which only short link-like lines follow.
_TAIL_MARKER_RE = re.compile(
    r"(?:share this(?: article| story)?|share on social media|related(?: articles| posts| news"
    r"| stories| topics)?|like this|you (?:may|might) also like|read more|more on this topic"
    r"|tags?|keywords)\s*:?\s*$",
    re.I,
)
_TAIL_LINE_RE = re.compile(
    r"(?:(?:©|\(c\)|copyright\b)\s*(?:©\s*)?(?:\d{4}|all rights).{0,150}|all rights reserved\.?"
    r"|(?:print|email|e-mail|facebook|twitter|whatsapp|linkedin|telegram|google\+|pinterest"
    r"|reddit|tweet|share|comments?|loading\.*|leave a (?:reply|comment)|previous|next"
    r"|previous article|next article|back to top)\s*[:|]?\s*)$",
    re.I,
)
_TAIL_SHORT_CHARS = 120
_TAIL_MAX_LINES = 25

_FRONT_MATTER_FENCE_RE = re.compile(r"-{3,}\s*$")
_FRONT_MATTER_END_RE = re.compile(r"(?:-{3,}|\.{3})\s*$")
_FRONT_MATTER_LINE_RE = re.compile(r"([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_FRONT_MATTER_MAX_LINES = 40
_MD_HEADING_RE = re.compile(r"#{1,6}\s*(.*?)\s*#*\s*$")
_SETEXT_RE = re.compile(r"(?:={3,}|-{3,})\s*$")


@dataclass(slots=True)
class PageParts:
    """What a single-article text file holds, before dates and ids are decided."""

    title: str
    body: str
    caption: str | None = None
    fields: dict[str, str] = field(default_factory=dict)  # front matter or page metadata


def paragraphs(lines: Sequence[str]) -> str:
    """Lines stripped, runs of blank lines collapsed: paragraphs joined by one blank line."""
    paras: list[str] = []
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped:
            current.append(stripped)
        elif current:
            paras.append("\n".join(current))
            current = []
    if current:
        paras.append("\n".join(current))
    return "\n\n".join(paras)


def strip_tail(lines: list[str]) -> list[str]:
    """Drop trailing page furniture: share and related-links blocks, copyright lines."""
    end = len(lines)
    while end and (not lines[end - 1].strip() or _TAIL_LINE_RE.match(lines[end - 1].strip())):
        end -= 1
    first_text = next((i for i in range(end) if lines[i].strip()), end)
    for i in range(first_text + 1, end):
        if not _TAIL_MARKER_RE.match(lines[i].strip()):
            continue
        rest = [s for s in (x.strip() for x in lines[i + 1 : end]) if s]
        if len(rest) <= _TAIL_MAX_LINES and all(len(s) <= _TAIL_SHORT_CHARS for s in rest):
            end = i
            break
    while end and (not lines[end - 1].strip() or _TAIL_LINE_RE.match(lines[end - 1].strip())):
        end -= 1
    return lines[:end]


def is_page(text: str) -> bool:
    """True for the archive's page format (title line ending in the archive's name)."""
    lines = text[:3000].splitlines()[:_PAGE_HEADER_LINES]
    return any("|" in line and _TITLE_SUFFIX_RE.search(line) for line in lines)


def parse_page(text: str) -> PageParts:
    lines = text.splitlines()
    title_at = next(
        i
        for i, line in enumerate(lines[:_PAGE_HEADER_LINES])
        if "|" in line and _TITLE_SUFFIX_RE.search(line)
    )
    title = _TITLE_SUFFIX_RE.sub("", lines[title_at]).strip()
    fields: dict[str, str] = {}
    captions: list[str] = []
    i, n = title_at + 1, len(lines)
    while i < n:
        line = lines[i].strip()
        if not line or _NAV_RE.match(line) or _SITE_HEADER_RE.match(line):
            i += 1
            continue
        media = _MEDIA_RE.match(line)
        if media:
            if media.group(1):
                fields["media_id"] = media.group(1).strip()
            i += 1
            continue
        caption = _CAPTION_RE.match(line)
        if not caption:
            break
        # The caption is the block of lines after "Caption:" (text may share its line),
        # ending at the first blank line; the article body follows the gap. Pages put one
        # blank line before a caption, so a wider gap means the caption is empty.
        block = [caption.group(1)] if caption.group(1) else []
        i += 1
        if not block:
            gap_start = i
            while i < n and not lines[i].strip():
                i += 1
            if i - gap_start > _MAX_CAPTION_GAP:
                continue
        while i < n and lines[i].strip():
            block.append(lines[i].strip())
            i += 1
        if block:
            captions.append(" ".join(block))
    body = paragraphs(strip_tail(lines[i:]))
    caption_text = " ".join(captions) or None
    if caption_text:
        fields["caption"] = caption_text
    if not body and caption_text:
        body = caption_text  # a photo-only page: the caption is all the text there is
    return PageParts(title=title, body=body, caption=caption_text, fields=fields)


def _front_matter(lines: list[str]) -> tuple[dict[str, str], int]:
    """Simple ``key: value`` front matter and the index of the first line after it."""
    if not lines or not _FRONT_MATTER_FENCE_RE.fullmatch(lines[0].strip()):
        return {}, 0
    found: dict[str, str] = {}
    for i in range(1, min(len(lines), _FRONT_MATTER_MAX_LINES)):
        line = lines[i].strip()
        if _FRONT_MATTER_END_RE.fullmatch(line):
            return (found, i + 1) if found else ({}, 0)
        if not line or line.startswith("#"):
            continue
        m = _FRONT_MATTER_LINE_RE.fullmatch(line)
        if not m:
            return {}, 0
        value = m.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        found[m.group(1).lower()] = value
    return {}, 0


def parse_plain(text: str, markdown: bool) -> PageParts:
    """First non-empty line is the title (a Markdown heading loses its ``#``); the rest is body."""
    lines = text.splitlines()
    fields, start = _front_matter(lines)
    title = fields.pop("title", "").strip()
    i, n = start, len(lines)
    while i < n and not lines[i].strip():
        i += 1
    if i < n:
        first = lines[i].strip()
        heading = _MD_HEADING_RE.fullmatch(first) if markdown else None
        first_title = heading.group(1) if heading else first
        setext = markdown and i + 1 < n and bool(_SETEXT_RE.fullmatch(lines[i + 1].strip()))
        if not title:
            title = first_title
            i += 2 if setext else 1
        elif (heading or setext) and first_title.casefold() == title.casefold():
            i += 2 if setext else 1  # the heading repeats the front-matter title
    body = paragraphs(strip_tail(lines[i:]))
    if not body:
        body = title  # a one-line file: its only line is still searchable text
    return PageParts(title=title, body=body, fields=fields)
