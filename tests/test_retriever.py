from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from askarchive import Archive
from tests.fakes import HashEmbedder
from tests.helpers import assert_consistent


def _records(folder: Path, rows: list[dict[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "news.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def dated(tmp_path: Path) -> Archive:
    """40 articles about one topic across 2014-2017, one per month-ish, plus off-topic ones."""
    rows = []
    for i in range(40):
        year = 2014 + i % 4
        month = 1 + i % 12
        rows.append(
            {
                "id": f"d{i}",
                "title": f"Refugees cross border report {i}",
                "body": f"Refugees crossed the border into Jordan, report {i}. "
                f"Officials counted {1000 + i} people at the Zaatari camp gate.",
                "date": f"{year}-{month:02d}-15",
            }
        )
    for i in range(10):
        rows.append(
            {
                "id": f"x{i}",
                "title": f"Football final {i}",
                "body": f"The football final ended with a late goal number {i}.",
                "date": "2016-06-10",
            }
        )
    path = _records(tmp_path / "arch", rows)
    archive = Archive.open(tmp_path / "idx", embedder=HashEmbedder(dim=128))
    archive.index([path])
    return archive


def test_modes_and_exact_citations(dated: Archive) -> None:
    for mode in ("hybrid", "dense", "keyword"):
        hits = dated.search("refugees Jordan border Zaatari", k=5, mode=mode)
        assert len(hits) == 5
        for p in hits:
            body = dated.article(p.article_id).body
            assert body[p.citation.start : p.citation.end] == p.text
            assert p.citation.article_id == p.article_id
    kw = dated.search("1017", k=1, mode="keyword")
    assert kw and "1017" in kw[0].text, "keyword search finds an exact number"


def test_date_window_is_applied_inside_the_search(dated: Archive) -> None:
    hits = dated.search("refugees crossed the border", k=5, since="2016-01-01", until="2016-12-31")
    assert len(hits) == 5, "k hits whenever k matching passages exist in the window"
    assert all(p.citation.date and p.citation.date.year == 2016 for p in hits)
    # Off-topic football articles are in June 2016 too; the query window narrows to them.
    june = dated.search("football final in June 2016", k=3)
    assert june and all(
        p.citation.date == dt.date(2016, 6, 10) or p.citation.date.month == 6 for p in june
    )
    assert june[0].window is not None and june[0].window.origin == "query"
    # The flag turns phrase parsing off.
    unparsed = dated.search("football final in June 2016", k=3, parse_dates=False)
    assert unparsed[0].window is None
    # An explicit window beats the phrase.
    explicit = dated.search("refugees in 2014", k=3, since="2015-01-01", until="2015-12-31")
    assert all(p.citation.date.year == 2015 for p in explicit)


def test_empty_window_returns_nothing(dated: Archive) -> None:
    assert dated.search("refugees", k=5, since="1990-01-01", until="1990-12-31") == []


def test_at_most_two_passages_per_article(tmp_path: Path) -> None:
    long_body = " ".join(f"Sentence {i} about the Suez canal toll revenue." for i in range(60))
    rows = [{"id": "long", "title": "Suez canal", "body": long_body}]
    rows += [
        {"id": f"s{i}", "title": f"Suez note {i}", "body": f"Suez canal toll note {i}."}
        for i in range(4)
    ]
    archive = Archive.open(tmp_path / "idx", embedder=HashEmbedder())
    archive.index([_records(tmp_path / "arch", rows)])
    hits = archive.search("Suez canal toll revenue", k=6)
    per = {}
    for p in hits:
        per[p.article_id] = per.get(p.article_id, 0) + 1
    assert max(per.values()) <= 2
    assert len(hits) == 6


def test_wire_repeats_collapse_into_one_hit(tmp_path: Path) -> None:
    story = (
        "Kuwait raised fuel prices by 40 percent on Monday, the oil ministry said in a statement."
    )
    rows = [
        {"id": "w1", "title": "Kuwait raises fuel prices", "body": story, "date": "2016-08-01"},
        {"id": "w2", "title": "Kuwait raises fuel prices", "body": story, "date": "2016-08-01"},
        {
            "id": "w3",
            "title": "Kuwait raises fuel prices",
            "body": story + " ",
            "date": "2016-08-02",
        },
        {"id": "o", "title": "Qatar budget", "body": "Qatar announced a budget deficit for 2016."},
    ]
    archive = Archive.open(tmp_path / "idx", embedder=HashEmbedder())
    archive.index([_records(tmp_path / "arch", rows)])
    hits = archive.search("Kuwait fuel prices", k=3)
    kuwait = [p for p in hits if "Kuwait" in p.text]
    assert len(kuwait) == 1
    assert len(kuwait[0].duplicates) == 2
    assert {d.article_id for d in kuwait[0].duplicates}.isdisjoint({kuwait[0].article_id})


def test_source_filter(tmp_path: Path) -> None:
    a = _records(tmp_path / "wire", [{"id": "1", "title": "Oil", "body": "Oil output rose."}])
    b = _records(tmp_path / "blog", [{"id": "2", "title": "Oil", "body": "Oil output rose again."}])
    archive = Archive.open(tmp_path / "idx", embedder=HashEmbedder())
    archive.index([a, b])
    hits = archive.search("oil output", k=5, source="BLOG")
    assert [Path(p.citation.path).parent.name for p in hits] == ["blog"]
    assert_consistent(archive._store)


def test_query_with_fts_syntax_is_safe(dated: Archive) -> None:
    for q in ['"unbalanced', "NEAR(a b)", "a AND OR NOT", "col:refugees", "*", "refugees) OR (1"]:
        dated.search(q, k=2, mode="keyword")
