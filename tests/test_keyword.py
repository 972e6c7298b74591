"""Keyword search under a row budget: the rare terms pick the rows, all terms rank them."""

from __future__ import annotations

import sqlite3

import pytest

from askarchive.search import keyword
from askarchive.search.keyword import KeywordSearch, query_terms


@pytest.fixture
def con() -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    con.execute(
        "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, title, "
        "tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    rows = []
    for i in range(200):
        rows.append((i + 1, f"Oil prices moved on day {i} as markets watched supply.", "Oil"))
    rows.append((501, "Oil prices rose on supply fears after the pipeline blast.", "Blast"))
    rows.append((502, "Pipeline blast in the desert; oil prices rose sharply.", "Blast"))
    rows.append((503, "Pipeline maintenance finished on time.", "Works"))
    con.executemany("INSERT INTO chunks_fts (rowid, text, title) VALUES (?, ?, ?)", rows)
    return con


def test_query_terms_drop_stopwords_and_repeats() -> None:
    assert query_terms("What happened to the OIL price, oil?") == ["oil", "price"]


def test_budget_keeps_the_top_ranks(
    con: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    search = KeywordSearch(con)
    full = search.search("oil prices pipeline blast", 10)  # no size given: never budgeted
    monkeypatch.setattr(keyword, "ROW_BUDGET", 10)
    assert search.selective_terms(query_terms("oil prices pipeline blast"), 203) == [
        "blast",
        "pipeline",
    ]
    budgeted = search.search("oil prices pipeline blast", 10, chunks=203)
    # Only rows holding a rare term are scored, but with every term: the leaders are unchanged.
    assert budgeted[:3] == full[:3]
    assert {r for r, _ in full[:3]} == {501, 502, 503}


def test_budget_falls_back_when_too_few_rows(
    con: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyword, "ROW_BUDGET", 10)
    search = KeywordSearch(con)
    loose = search.search("oil prices blast", 20, chunks=203)
    assert len(loose) == 2  # only the two blast rows were scored
    strict = search.search("oil prices blast", 20, chunks=203, need=20)
    assert len(strict) == 20


def test_user_text_is_never_fts_syntax(con: sqlite3.Connection) -> None:
    search = KeywordSearch(con)
    assert search.search('pipeline" OR title:works NEAR(', 5)[0][0] in (501, 502, 503)
    assert search.search("the of and", 5) == []
