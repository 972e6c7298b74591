"""Dates in a question's words rank articles; only explicit dates (or publication words) filter."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from askarchive import Archive
from askarchive.models import DateWindow
from askarchive.search.datehint import FADE_DAYS, closeness
from askarchive.search.querydates import parse_window
from tests.fakes import HashEmbedder

# Monthly reserve figures are published weeks after the month they describe, so each report
# names the month *before* its publication date; the series repeats the same words every month.
SERIES = [
    ("1987-02-20", "January", "41.2"),
    ("1987-03-19", "February", "44.8"),
    ("1987-04-22", "March", "49.5"),
    ("1987-05-21", "April", "47.1"),
]


@pytest.fixture
def reserves(tmp_path: Path) -> Archive:
    rows = [
        {
            "id": f"r{i}",
            "title": "Danish reserves",
            "body": f"Denmark's official net reserves rose to {amount} billion crowns at the end "
            f"of {month} from the month before, the central bank said.",
            "date": day,
        }
        for i, (day, month, amount) in enumerate(SERIES)
    ]
    rows += [
        {
            "id": f"x{i}",
            "title": f"Harbour news {i}",
            "body": f"The harbour of Esbjerg handled cargo ship number {i} this week.",
            "date": "1987-03-10",
        }
        for i in range(6)
    ]
    folder = tmp_path / "arch"
    folder.mkdir()
    path = folder / "news.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    archive = Archive.open(tmp_path / "idx", embedder=HashEmbedder(dim=128))
    archive.index([path])
    return archive


def _source(archive: Archive, article_id: str) -> str | None:
    return archive.article(article_id).source_id


def test_event_month_finds_the_report_published_after_it(reserves: Archive) -> None:
    # March's figures were published on 22 April: a filter on March would have dropped them.
    hits = reserves.search("How large were Denmark's net reserves in March 1987?", k=3)
    assert hits, "a date in the words never empties the result"
    assert _source(reserves, hits[0].article_id) == "r2"
    window = hits[0].window
    assert window is not None and window.use == "hint" and window.origin == "query"
    assert "hint" in window.explain()


def test_hint_never_removes_every_candidate(reserves: Archive) -> None:
    hits = reserves.search("Danish net reserves in 1950", k=3)
    assert len(hits) == 3


def test_explicit_dates_still_filter(reserves: Archive) -> None:
    hits = reserves.search("Denmark net reserves", k=5, since="1987-04-01", until="1987-04-30")
    assert [_source(reserves, p.article_id) for p in hits] == ["r2"]
    assert hits[0].window is not None and hits[0].window.use == "filter"
    assert reserves.search("Denmark reserves", k=5, since="1986-01-01", until="1986-12-31") == []


def test_publication_words_filter_and_widen_when_too_little(reserves: Archive) -> None:
    _, window = parse_window("articles from April 1987 about Danish reserves")
    assert window is not None and window.use == "filter"
    hits = reserves.search("articles from April 1987 about Danish reserves", k=1)
    assert [_source(reserves, p.article_id) for p in hits] == ["r2"]
    assert hits[0].window is not None and hits[0].window.use == "filter"
    # Nothing was published in 1985: the filter widens to a hint, and says so.
    wide = reserves.search("stories published in 1985 about Danish reserves", k=3)
    assert len(wide) == 3
    assert wide[0].window is not None and wide[0].window.use == "hint"
    assert wide[0].window.note and "nothing published then" in wide[0].window.note


def test_ask_answers_the_event_month_from_the_later_report(reserves: Archive) -> None:
    answer = reserves.ask("How large were Denmark's net reserves in March 1987?", llm=False)
    assert not answer.abstained
    assert "49.5 billion crowns" in answer.text
    assert answer.window is not None and answer.window.use == "hint"


def test_closeness_is_full_in_and_soon_after_the_period_and_fades() -> None:
    window = DateWindow(dt.date(1987, 3, 1), dt.date(1987, 3, 31), "query", "in March", "hint")
    days = np.array(
        [
            "1987-02-27",
            "1987-03-15",
            "1987-04-20",
            "1987-06-10",
            f"{dt.date(1987, 3, 31) + dt.timedelta(days=FADE_DAYS)}",
            "NaT",
        ],
        dtype="datetime64[D]",
    )
    got = closeness(days, window).tolist()
    assert got[0] == 0.0 and got[1] == 1.0 and got[2] == 1.0
    # Within the window's own length after it: full credit; then less the later it is.
    assert 0.0 < got[3] < 1.0 and got[4] == 0.0 and got[5] == 0.0
    day = DateWindow(dt.date(2020, 8, 22), dt.date(2020, 8, 22), "query", "on 22 August", "hint")
    week = np.array(["2020-08-25", "2020-09-01"], dtype="datetime64[D]")
    soon, later = closeness(week, day).tolist()
    assert soon == 1.0 and 0.0 < later < soon


def test_articles_published_before_the_event_cannot_answer(reserves: Archive) -> None:
    # Every report in the archive predates 1995: none can say what happened then.
    answer = reserves.ask("How large were Denmark's net reserves in March 1995?", llm=False)
    assert answer.abstained and answer.related, "the closest passages are still listed"


def test_questions_about_expectations_keep_earlier_articles() -> None:
    from askarchive.answer.extractive import reporting
    from askarchive.models import Citation, Passage

    cit = Citation("a", "Outlook", dt.date(1987, 3, 1), "a.txt", None, 0, 10)
    passage = Passage("x" * 10, 1.0, "a", 1, cit, similarity=0.6)
    window = DateWindow(dt.date(1988, 1, 1), dt.date(1988, 12, 31), "query", "in 1988", "hint")
    assert reporting("What did the bank report for 1988?", [passage], window) == []
    assert reporting("What growth did the bank forecast for 1988?", [passage], window) == [passage]
