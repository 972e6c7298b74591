"""Keyword search under a row budget: the rare terms pick the rows, all terms rank them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from askarchive.search import keyword
from askarchive.search.keyword import KeywordSearch, query_terms
from askarchive.store.sqlite import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.placeholder(tmp_path)  # the store's tables, in memory
    rows = []
    for i in range(200):
        rows.append((i + 1, f"Oil prices moved on day {i} as markets watched supply.", "Oil"))
    rows.append((501, "Oil prices rose on supply fears after the pipeline blast.", "Blast"))
    rows.append((502, "Pipeline blast in the desert; oil prices rose sharply.", "Blast"))
    rows.append((503, "Pipeline maintenance finished on time.", "Works"))
    store.con.executemany("INSERT INTO chunks_fts (rowid, text, title) VALUES (?, ?, ?)", rows)
    yield store
    store.close()


def test_query_terms_drop_stopwords_and_repeats() -> None:
    assert query_terms("What happened to the OIL price, oil?") == ["oil", "price"]


def test_budget_keeps_the_top_ranks(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    search = KeywordSearch(store)
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


def test_budget_falls_back_when_too_few_rows(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyword, "ROW_BUDGET", 10)
    search = KeywordSearch(store)
    loose = search.search("oil prices blast", 20, chunks=203)
    assert len(loose) == 2  # only the two blast rows were scored
    strict = search.search("oil prices blast", 20, chunks=203, need=20)
    assert len(strict) == 20


def test_user_text_is_never_fts_syntax(store: Store) -> None:
    search = KeywordSearch(store)
    assert search.search('pipeline" OR title:works NEAR(', 5)[0][0] in (501, 502, 503)
    assert search.search("the of and", 5) == []


def test_counts_stop_past_the_budget(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyword, "ROW_BUDGET", 10)
    monkeypatch.setattr(keyword, "COMMON_ROWS", 10)
    search = KeywordSearch(store)
    assert search.rows_matching("oil", 203) == 11  # 202 rows hold it; counting stopped at 11
    # Only common words: their exact counts pick the rarest ("supply", 201 rows, to oil's 202).
    assert search.selective_terms(["oil", "supply"], 203) == ["supply"]
    assert search.rows_matching("oil", 203) == 202


def test_big_archives_leave_common_terms_out(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyword, "ROW_BUDGET", 10)
    monkeypatch.setattr(keyword, "SCORE_ALL_UNTIL", 200)
    query = "oil prices pipeline blast"
    full = KeywordSearch(store).search(query, 10)
    monkeypatch.setattr(keyword, "COMMON_ROWS", 500)  # every term is scored, as below the size
    assert KeywordSearch(store).search(query, 10, chunks=203)[:3] == full[:3]
    monkeypatch.setattr(keyword, "COMMON_ROWS", 150)  # oil and prices (202 rows) are left out
    hits = KeywordSearch(store).search(query, 10, chunks=203)
    assert [r for r, _ in hits][2] == 503 and {r for r, _ in hits} == {501, 502, 503}
    assert dict(hits)[501] < dict(full)[501]  # scored without the common words
