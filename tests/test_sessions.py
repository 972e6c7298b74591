"""SessionStore (SQLite chat sessions) and the XDG locations it lives in."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from askarchive import locations
from askarchive.errors import BadInput, StoreCorrupt
from askarchive.models import Answer, AnswerSentence, Citation, DateWindow, Filters, Passage
from askarchive.sessions import DEFAULT_TITLE, SessionStore, answer_from_dict


def ticking_clock(start: dt.datetime = dt.datetime(2024, 1, 1, 12, 0, 0)):
    """Each call is one minute later, so ordering by time is deterministic."""
    counter = itertools.count()
    return lambda: start + dt.timedelta(minutes=next(counter))


def make_answer(question: str = "q", marker_text: str = "Shoigu visited Damascus.") -> Answer:
    c1 = Citation("a1", "Shoigu to Damascus", dt.date(2016, 6, 18), "x/a1.txt", None, 10, 90)
    c2 = Citation("a2", "Putin [speech]", None, "x/a2.txt", "https://e.x/2", 0, 40)
    return Answer(
        text=f"{marker_text} [1] Putin spoke. [2]",
        sentences=[
            AnswerSentence(marker_text, 1, 10, 10 + len(marker_text)),
            AnswerSentence("Putin spoke.", 2, 5, 17, supported=True, note="checked"),
        ],
        citations=[c1, c2],
        abstained=False,
        query_used=f"{question} rewritten",
        window=DateWindow(dt.date(2016, 1, 1), dt.date(2016, 12, 31), "query", "in 2016"),
        related=[
            Passage("related text", 0.5, "a3", 7, Citation("a3", "R", None, "r.txt", None, 0, 12))
        ],
        notice="LLM unavailable; extractive answer",
    )


@pytest.fixture()
def store(tmp_path: Path) -> SessionStore:
    s = SessionStore(tmp_path / "data" / "sessions.sqlite3", clock=ticking_clock())
    yield s
    s.close()


def test_answer_round_trips_through_json() -> None:
    original = make_answer()
    restored = answer_from_dict(json.loads(json.dumps(original.to_dict())))
    assert restored.to_dict() == original.to_dict()
    assert restored.window == original.window
    assert restored.citations[0].date == dt.date(2016, 6, 18)
    assert restored.related[0].citation.title == "R"


def test_create_append_and_load_turns(store: SessionStore) -> None:
    s = store.create()
    assert s.title == DEFAULT_TITLE and s.turns == 0
    store.append(s.id, "Who visited Damascus?", make_answer("Who visited Damascus?"))
    store.append(s.id, "And what did Putin say?", make_answer("And what did Putin say?"))
    turns = store.turns(s.id)
    assert [t.seq for t in turns] == [1, 2]
    assert turns[1].question == "And what did Putin say?"
    assert turns[1].answer.query_used == "And what did Putin say? rewritten"
    assert turns[0].answer.window == make_answer().window
    # The first question names an untitled session; later ones do not rename it.
    got = store.get(s.id)
    assert got.title == "Who visited Damascus?" and got.turns == 2


def test_explicit_title_is_kept_and_rename_validates(store: SessionStore) -> None:
    s = store.create("Syria 2016")
    store.append(s.id, "q", make_answer())
    assert store.get(s.id).title == "Syria 2016"
    assert store.rename(s.id, "  Renamed  ").title == "Renamed"
    with pytest.raises(BadInput):
        store.rename(s.id, "   ")
    with pytest.raises(BadInput):
        store.rename(999, "x")


def test_list_orders_by_activity_and_last_is_most_recently_opened(store: SessionStore) -> None:
    a = store.create("a")
    b = store.create("b")
    store.append(a.id, "q", make_answer())  # a is now the most recently updated
    assert [s.title for s in store.list()] == ["a", "b"]
    store.mark_opened(b.id)
    assert store.last().id == b.id
    store.mark_opened(a.id)
    assert store.last().id == a.id


def test_delete_removes_turns(store: SessionStore, tmp_path: Path) -> None:
    s = store.create()
    store.append(s.id, "q", make_answer())
    store.delete(s.id)
    assert store.list() == []
    assert store.last() is None
    con = sqlite3.connect(store.path)
    assert con.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 0
    con.close()
    with pytest.raises(BadInput):
        store.delete(s.id)
    with pytest.raises(BadInput):
        store.append(s.id, "q", make_answer())


def test_filters_persist(store: SessionStore) -> None:
    s = store.create()
    store.set_filters(s.id, "2016", "", "syria")
    got = store.get(s.id)
    assert (got.since, got.until, got.source) == ("2016", None, "syria")


def test_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with SessionStore(path) as first:
        sid = first.create().id
        first.append(sid, "persist me", make_answer())
    with SessionStore(path) as second:
        assert second.turns(sid)[0].question == "persist me"


def test_export_markdown_has_questions_answers_and_sources(
    store: SessionStore, tmp_path: Path
) -> None:
    s = store.create()
    store.set_filters(s.id, "2016", None, None)
    store.append(
        s.id, "Who went to [Damascus]?", make_answer(marker_text="Shoigu *visited* Damascus.")
    )
    path = store.export(s.id, tmp_path / "out")
    text = path.read_text(encoding="utf-8")
    assert path.suffix == ".md" and path.parent == tmp_path / "out"
    assert "## 1. Who went to \\[Damascus\\]?" in text
    assert "Shoigu \\*visited\\* Damascus\\. \\[1\\]" in text
    assert "dates: 2016-01-01 to 2016-12-31" in text
    assert "1. Shoigu to Damascus (2016-06-18)" in text
    assert "2. Putin \\[speech\\] (undated)" in text and "<https://e.x/2>" in text
    assert "Filters: dates 2016 to" in text
    assert "> LLM unavailable" in text


def test_filters_read_the_same_in_the_export_and_the_chat(store: SessionStore) -> None:
    s = store.create()
    store.set_filters(s.id, "2016", None, "syria")
    saved = store.get(s.id).filters
    # One description: the chat's status line says this, and the export says it escaped.
    assert saved == Filters("2016", None, "syria")
    assert saved.describe() == "dates 2016 to …, source ~ syria"
    assert "Filters: dates 2016 to …, source \\~ syria\n" in store.export_markdown(s.id)
    window = DateWindow(dt.date(2016, 1, 1), None)
    assert window.describe() == "2016-01-01 to …" and Filters().describe() == "no filters"


def test_concurrent_appends_from_threads(store: SessionStore) -> None:
    s = store.create()

    def work(n: int) -> None:
        for i in range(10):
            store.append(s.id, f"q{n}-{i}", make_answer())

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [t.seq for t in store.turns(s.id)]
    assert seqs == list(range(1, 41))


def test_corrupt_file_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "sessions.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreCorrupt) as err:
        SessionStore(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


def test_locations_honour_env_and_create_nothing(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "custom"
    monkeypatch.setenv(locations.DATA_DIR_ENV, str(target))
    monkeypatch.setenv(locations.CONFIG_DIR_ENV, str(tmp_path / "conf"))
    assert locations.data_dir() == target
    assert locations.config_dir() == tmp_path / "conf"
    assert locations.sessions_db() == target / "sessions.sqlite3"
    assert locations.exports_dir() == target / "exports"
    assert not target.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="XDG variables are a Linux convention")
def test_locations_follow_xdg_on_linux(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(locations.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(locations.CONFIG_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdgc"))
    assert locations.data_dir() == tmp_path / "xdg" / "askarchive"
    assert locations.config_dir() == tmp_path / "xdgc" / "askarchive"
    assert not (tmp_path / "xdg").exists()
