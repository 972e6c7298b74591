"""The CLI's human search view: what a reader needs to find the passage again, the date window
that was applied, and query words marked, with article text printed literally."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from rich.console import Console

from askarchive.cli import render
from askarchive.models import Citation, DateWindow, Passage


def passage(text: str, title: str, day: dt.date, start: int, window: DateWindow | None) -> Passage:
    cite = Citation("a1", title, day, "archive/a1.txt", None, start, start + len(text))
    dup = Citation("a2", "Repeat of the story", day, "archive/a2.txt", None, 0, len(text))
    return Passage(text, 0.5, "a1", 7, cite, window=window, duplicates=(dup,))


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> Console:
    console = Console(file=io.StringIO(), width=200, record=True, highlight=False)
    monkeypatch.setattr(render, "out", console)
    return console


def test_search_view_shows_rank_source_span_and_window(screen: Console) -> None:
    window = DateWindow(dt.date(2016, 6, 1), dt.date(2016, 6, 30), "query", "in June 2016")
    found = [
        passage(
            "Haddadin resigned [bold]on Tuesday[/bold].",
            "Minister Resigns",
            dt.date(2016, 6, 14),
            120,
            window,
        ),
        passage("A successor was named.", "New Minister", dt.date(2016, 6, 20), 0, window),
    ]
    render.passages("Haddadin resigned in June 2016", found)
    text = screen.export_text()
    assert 'date window: 2016-06-01 to 2016-06-30 from "in June 2016", as a filter' in text
    assert "1. Minister Resigns  2016-06-14  archive/a1.txt:120-162" in text
    assert "2. New Minister  2016-06-20  archive/a1.txt:0-22" in text
    # Article text is data: square brackets are printed, never read as Rich markup.
    assert "Haddadin resigned [bold]on Tuesday[/bold]." in text
    assert "also: Repeat of the story (2016-06-14) archive/a2.txt" in text


def test_no_window_line_without_a_window(screen: Console) -> None:
    render.passages("oil", [passage("Oil fell.", "Oil", dt.date(1987, 3, 2), 0, None)])
    assert "date window" not in screen.export_text()


def test_query_words_are_marked_in_the_passage() -> None:
    marked = render.highlight("The minister resigned; ministers met.", "Minister resigned?")
    spans = sorted((s.start, s.end) for s in marked.spans)
    words = [marked.plain[a:b] for a, b in spans]
    assert words == ["minister", "resigned", "ministers"]
    assert render.highlight("Nothing here.", "?").spans == []


def test_json_view_carries_the_window() -> None:
    window = DateWindow(dt.date(2015, 1, 1), dt.date(2015, 12, 31), "explicit")
    data = passage("Text.", "T", dt.date(2015, 5, 5), 3, window).to_dict()
    assert data["window"]["since"] == "2015-01-01" and data["window"]["until"] == "2015-12-31"
    assert data["citation"]["start"] == 3 and data["citation"]["end"] == 8
    assert data["citation"]["label"] == "T (2015-05-05) archive/a1.txt:3-8"
