"""The whole article, scrolled to the cited words, which are highlighted."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from askarchive.models import Article
from askarchive.safe import visible
from askarchive.tui.widgets.sources import app_roots, display_path

CITED_STYLE = "bold black on yellow"
_PARAGRAPH = re.compile(r"[^\n]+")


class Paragraph(Static):
    """One line-paragraph of the body; ``start`` is its offset in ``article.body``."""

    def __init__(self, text: Text, start: int, cited: bool) -> None:
        super().__init__(text, classes="paragraph -cited" if cited else "paragraph")
        self.start = start


def paragraphs(body: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, Text, bool]]:
    """Split ``body`` into paragraphs with the parts inside ``spans`` styled as cited.

    Works on offsets so a span that crosses a paragraph break highlights both halves. Each piece
    passes through ``visible`` after it is cut at the offsets, so a control character is shown
    (``\\x1b``) and the highlight still covers exactly the cited words.
    """
    out = []
    for m in _PARAGRAPH.finditer(body):
        start, end = m.span()
        if not m.group().strip():
            continue
        marks = sorted((max(lo, start), min(hi, end)) for lo, hi in spans)
        marks = [(a - start, b - start) for a, b in marks if a < b]
        line, text, at = m.group(), Text(), 0
        for a, b in marks:
            a = max(a, at)
            if a < b:
                text.append(visible(line[at:a]))
                text.append(visible(line[a:b]), CITED_STYLE)
                at = b
        text.append(visible(line[at:]))
        out.append((start, text, bool(marks)))
    return out


class ReaderScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", key_display="esc", id="reader.back"),
        Binding("n", "jump(1)", "Next highlight", id="reader.next"),
        Binding("p", "jump(-1)", "Previous highlight", id="reader.previous"),
    ]

    def __init__(
        self, article: Article, spans: Sequence[tuple[int, int]], number: int | None
    ) -> None:
        super().__init__(classes="reader")
        self.article = article
        self.spans = sorted(spans)
        self.number = number
        self._at = 0

    def compose(self) -> ComposeResult:
        a = self.article
        label = f"[{self.number}] " if self.number is not None else ""
        title = visible(label + (a.title or "(untitled)"))
        yield Static(Text(title, style="bold"), id="reader-title")
        when = a.date.isoformat() if a.date else "undated"
        where = display_path(a.path, app_roots(self))
        meta = f"{when} · {where}" + (f" · {a.url}" if a.url else "")
        yield Static(Text(visible(meta), style="dim"), id="reader-meta")
        with VerticalScroll(id="reader-body"):
            for start, text, cited in paragraphs(a.body, self.spans):
                yield Paragraph(text, start, cited)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        body = self.query_one("#reader-body", VerticalScroll)
        body.focus()
        # After the first layout, so the paragraphs have their heights.
        self.call_after_refresh(self._show, 0)

    def cited(self) -> list[Paragraph]:
        return list(self.query(".-cited").results(Paragraph))

    def _show(self, index: int) -> None:
        cited = self.cited()
        if not cited:
            return
        self._at = index % len(cited)
        body = self.query_one("#reader-body", VerticalScroll)
        body.scroll_to_widget(cited[self._at], animate=False, top=True)

    def action_jump(self, step: int) -> None:
        self._show(self._at + step)
