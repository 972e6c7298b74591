"""HTML articles: main text and metadata through trafilatura, with a stdlib fallback."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from askarchive.ingest.pages import paragraphs

# Only markup metadata (meta tags, JSON-LD, <time>, URL) may date an HTML page: htmldate's
# extensive search would guess from dates merely mentioned in the text.
_DATE_PARAMS = {"extensive_search": False, "original_date": True}
_WS_RE = re.compile(r"\s+")


@dataclass(slots=True)
class HtmlParts:
    title: str
    body: str
    date: str | None = None
    url: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


class _TextCollector(HTMLParser):
    """Visible text by block, for pages trafilatura finds no main text in."""

    _SKIP = frozenset({"script", "style", "noscript", "nav", "header", "footer", "aside", "form"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.title = ""
        self._current: list[str] = []
        self._skip_depth = 0
        self._in_title = False

    def _flush(self) -> None:
        text = _WS_RE.sub(" ", "".join(self._current)).strip()
        if text:
            self.blocks.append(text)
        self._current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif tag == "title":
            self._in_title = True
        elif tag in self._BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in self._BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip_depth:
            self._current.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _fallback(text: str) -> HtmlParts:
    collector = _TextCollector()
    collector.feed(text)
    collector.close()
    title = _WS_RE.sub(" ", collector.title).strip()
    return HtmlParts(title=title, body="\n\n".join(collector.blocks))


def parse_html(text: str) -> HtmlParts:
    import trafilatura  # lazy: ~0.5 s to import, and only HTML inputs need it

    doc = trafilatura.bare_extraction(
        text,
        with_metadata=True,
        include_comments=False,
        include_images=False,
        include_links=False,
        include_tables=True,
        date_extraction_params=_DATE_PARAMS,
    )
    body_text = getattr(doc, "text", None) or ""
    if not body_text.strip():
        return _fallback(text)
    title = _WS_RE.sub(" ", getattr(doc, "title", None) or "").strip()
    lines = body_text.splitlines()
    # trafilatura keeps the <h1>; it is the title, not body text.
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and title and lines[first].strip().casefold() == title.casefold():
        lines = lines[first + 1 :]
    # One block element per line in trafilatura's output; make each a paragraph.
    body = paragraphs([part for line in lines for part in (line, "")])
    fields: dict[str, str] = {}
    for name in ("author", "sitename", "description"):
        value = getattr(doc, name, None)
        if isinstance(value, str) and value.strip():
            fields[name] = value.strip()
    return HtmlParts(
        title=title or _fallback(text).title,
        body=body,
        date=getattr(doc, "date", None) or None,
        url=getattr(doc, "url", None) or None,
        fields=fields,
    )
