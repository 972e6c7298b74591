"""Archive.ask end to end on a hash-embedded index: windows, fallbacks and the LLM path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from askarchive import Archive, locations
from askarchive.answer.llm import answer as llm_mod
from askarchive.answer.llm import config as llm_config
from askarchive.answer.llm.config import LLMConfig
from tests.fakes import HashEmbedder
from tests.llm_server import FakeLLM

ROWS = [
    {
        "id": "1",
        "title": "Port of Aqaba expands",
        "body": "The port of Aqaba opened a new container terminal on Monday. "
        "The terminal can handle 1.5 million containers a year, the port authority said.",
        "date": "2016-06-06",
    },
    {
        "id": "2",
        "title": "Aqaba terminal operator named",
        "body": "A Danish firm will operate the new Aqaba container terminal for 25 years. "
        "The contract was signed in Amman with the port authority.",
        "date": "2016-06-09",
    },
    {
        "id": "3",
        "title": "Undated history of the port",
        "body": "The old port of Aqaba handled phosphate exports in 1990 and grew quickly. "
        "Phosphate exports through Aqaba doubled during the 1990s.",
    },
]


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Archive:
    for name in (
        llm_config.ENV_URL,
        llm_config.ENV_MODEL,
        llm_config.ENV_KEY,
        llm_config.ENV_TIMEOUT,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(locations.CONFIG_DIR_ENV, str(tmp_path / "config"))
    src = tmp_path / "news.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")
    a = Archive.open(tmp_path / "idx", embedder=HashEmbedder(dim=256))
    a.index([src])
    return a


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    fake = FakeLLM().start()
    yield fake
    fake.stop()


def test_extractive_answer_by_default(archive: Archive) -> None:
    answer = archive.ask("How many containers can the Aqaba terminal handle?")
    assert answer.mode == "extractive" and not answer.abstained
    assert any("1.5 million" in s.text for s in answer.sentences)


def test_query_window_applies_and_is_reported(archive: Archive) -> None:
    answer = archive.ask("Who will operate the Aqaba terminal, as reported in June 2016?")
    assert answer.window is not None and answer.window.origin == "query"
    assert all(c.date and c.date.month == 6 for c in answer.citations)


def test_event_date_in_the_words_ranks_and_never_empties(archive: Archive) -> None:
    # "in 1990" dates the event; nothing was *published* then, and the words are only a hint.
    answer = archive.ask("What did the port of Aqaba export in 1990?")
    assert not answer.abstained
    assert answer.window is not None and answer.window.use == "hint"
    assert any("phosphate" in s.text.lower() for s in answer.sentences)


def test_explicit_window_never_falls_back(archive: Archive) -> None:
    answer = archive.ask("What did the port of Aqaba export?", since="1990", until="1990")
    assert answer.abstained and answer.window is not None


def test_history_as_plain_strings(archive: Archive) -> None:
    answer = archive.ask("who signed it?", history=["the Aqaba terminal contract"])
    assert "Aqaba" in answer.query_used


def test_llm_answer_streams_and_is_verified(archive: Archive, server: FakeLLM) -> None:
    server.reply = "The terminal can handle 1.5 million containers a year [1]."
    tokens: list[str] = []
    answer = archive.ask(
        "How many containers can the Aqaba terminal handle?",
        llm=LLMConfig(server.url, "test", timeout=5),
        on_token=tokens.append,
    )
    assert answer.mode == "llm" and len(tokens) > 3
    assert answer.sentences and all(s.supported for s in answer.sentences)
    system = server.requests[-1].body["messages"][0]["content"]
    assert system == llm_mod.SYSTEM_PROMPT


def test_llm_down_gives_extractive_answer_with_notice(archive: Archive) -> None:
    answer = archive.ask(
        "How many containers can the Aqaba terminal handle?",
        llm=LLMConfig("http://127.0.0.1:9/v1", "test", timeout=2),
    )
    assert answer.mode == "extractive" and not answer.abstained
    assert answer.notice and answer.notice.startswith("LLM unavailable")


def test_llm_from_environment(archive: Archive, server: FakeLLM, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(llm_config.ENV_URL, server.url)
    server.reply = "A Danish firm will operate it [2]."
    answer = archive.ask("Who will operate the Aqaba terminal?")
    assert answer.mode == "llm" and server.requests
    assert archive.ask("Who will operate the Aqaba terminal?", llm=False).mode == "extractive"


def test_extractive_answer_embeds_only_the_query(archive: Archive) -> None:
    # Embedding candidate sentences cost most of the answer step's time; words and passage
    # similarity rank them instead, so one query embedding per question is all the model does.
    emb = archive.embedder
    assert isinstance(emb, HashEmbedder)
    emb.calls = emb.encoded = 0
    answer = archive.ask("How many containers can the Aqaba terminal handle?", llm=False)
    assert not answer.abstained and (emb.calls, emb.encoded) == (1, 1)
