"""The sources of the selected answer: number, title, date, path and the cited words."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import ListItem, ListView, Static

from askarchive.answer.markdown import cited_sentences, root_relative
from askarchive.models import Answer, Citation
from askarchive.safe import visible

SNIPPET_CHARS = 220


@dataclass(frozen=True, slots=True)
class Source:
    """A source to open: the article and the spans in it to highlight (exact sentences first)."""

    number: int | None  # None for a related (uncited) passage
    citation: Citation
    spans: tuple[tuple[int, int], ...]
    snippet: str


def sources_of(answer: Answer) -> list[Source]:
    """Cited sources in [n] order, then related passages."""
    out: list[Source] = []
    for n, c in enumerate(answer.citations, 1):
        exact = tuple(
            (s.start, s.end)
            for s in answer.sentences
            if s.citation_index == n and s.start is not None and s.end is not None
        )
        quotes = cited_sentences(answer, n)
        out.append(Source(n, c, exact or ((c.start, c.end),), " ".join(quotes)))
    for p in answer.related:
        c = p.citation
        out.append(Source(None, c, ((c.start, c.end),), p.text))
    return out


def app_roots(widget: Widget) -> list[Path]:
    """The indexed folders of the archive behind the running app (none if it is not open)."""
    roots = getattr(getattr(widget.app, "backend", None), "roots", None)
    return list(roots()) if callable(roots) else []


def display_path(path: str, roots: Sequence[Path] = ()) -> str:
    """``path`` relative to the indexed folder that holds it (``archive/foo.txt``), else to the
    working directory when it lies below it, else as it is."""
    inside = root_relative(path, roots)
    if inside is not None:
        return inside
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


def _shorten(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def source_text(src: Source, roots: Sequence[Path] = ()) -> Text:
    label = f"[{src.number}] " if src.number is not None else "related: "
    when = src.citation.date.isoformat() if src.citation.date else "undated"
    text = Text(no_wrap=False)
    text.append(label, style="bold")
    text.append(visible(src.citation.title or "(untitled)"), style="bold")
    text.append(visible(f"\n{when} · {display_path(src.citation.path, roots)}"), style="dim")
    if src.snippet:
        text.append("\n" + visible(_shorten(src.snippet)), style="italic")
    return text


class SourceItem(ListItem):
    def __init__(self, source: Source, roots: Sequence[Path] = ()) -> None:
        super().__init__(Static(source_text(source, roots)), classes="source")
        self.source = source


class SourcesPanel(Vertical):
    """Lists sources; Enter, a click, or a digit key opens one (the screen shows the reader)."""

    # One binding per digit (each with an id for keymaps); the footer shows them as one "1-9".
    BINDINGS = [
        Binding("1", "open_number(1)", "Open source", key_display="1-9", id="sources.open_1"),
        *(
            Binding(
                str(n), f"open_number({n})", f"Open source {n}", show=False, id=f"sources.open_{n}"
            )
            for n in range(2, 10)
        ),
    ]

    class Open(Message):
        def __init__(self, source: Source) -> None:
            super().__init__()
            self.source = source

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sources: list[Source] = []

    def compose(self) -> ComposeResult:
        yield Static(Text("Sources"), classes="panel-title")
        yield Static(Text("Ask a question: its sources appear here.", style="dim"), classes="empty")
        yield ListView(id="source-list")

    @property
    def list_view(self) -> ListView:
        return self.query_one("#source-list", ListView)

    async def show(self, answer: Answer | None) -> None:
        self.sources = sources_of(answer) if answer is not None else []
        lv = self.list_view
        await lv.clear()
        if self.sources:
            roots = app_roots(self)
            await lv.extend(SourceItem(s, roots) for s in self.sources)
            lv.index = 0
        self.query_one(".empty", Static).display = not self.sources
        if answer is not None and not self.sources:
            self.query_one(".empty", Static).update(
                Text("This answer cites no sources.", style="dim")
            )

    def by_number(self, number: int) -> Source | None:
        for s in self.sources:
            if s.number == number:
                return s
        return None

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        event.stop()
        if isinstance(event.item, SourceItem):
            self.post_message(self.Open(event.item.source))

    def action_open_number(self, number: int) -> None:
        src = self.by_number(number)
        if src is None:
            self.notify(f"this answer has no source [{number}]", severity="warning", markup=False)
        else:
            self.post_message(self.Open(src))
