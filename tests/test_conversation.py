from __future__ import annotations

import datetime as dt
import re

import pytest

from askarchive.answer.followup import Rewrite, entities, rewrite
from askarchive.conversation import Conversation
from askarchive.models import Answer, DateWindow, Turn


def ask(question: str, history: list[Turn], answer: str = "") -> tuple[Rewrite, list[Turn]]:
    """Rewrite like the Conversation class does, and record the turn."""
    rw = rewrite(question, history)
    return rw, [*history, Turn(question, rw.query, answer, rw.window)]


def words(text: str) -> set[str]:
    return {re.sub(r"['’]s$", "", w.strip("?.,")).lower() for w in text.split()}


def test_first_question_stands_alone_with_its_dates() -> None:
    rw = rewrite("Why did Energy Minister Khalid Mansour resign in 2014?", [])
    # A date in a question's words dates the event: it stays in the query and only ranks.
    assert rw.query == "Why did Energy Minister Khalid Mansour resign in 2014?"
    assert rw.window is not None and rw.window.origin == "query" and rw.window.use == "hint"
    assert (rw.window.since, rw.window.until) == (dt.date(2014, 1, 1), dt.date(2014, 12, 31))
    assert not rw.followup


def test_pronoun_carries_person_and_window() -> None:
    _, hist = ask(
        "Why did Energy Minister Khalid Mansour resign in 2014?",
        [],
        "Energy Minister Khalid Mansour resigned on Monday [1]. Mansour's family said he had "
        "been threatened [1].",
    )
    rw = rewrite("what reason did his family give?", hist)
    assert rw.followup
    assert "Khalid Mansour" in rw.query
    assert {"family", "reason"} <= words(rw.query)
    assert "his" not in words(rw.query)
    assert rw.window is not None and rw.window.origin == "conversation"
    assert (rw.window.since, rw.window.until) == (dt.date(2014, 1, 1), dt.date(2014, 12, 31))
    assert "his" in rw.reason and "Khalid Mansour" in rw.reason


def test_pronoun_falls_back_to_the_answer() -> None:
    _, hist = ask(
        "Who resigned in 2014?",
        [],
        "Energy Minister Khalid Mansour resigned in protest [1].\n\n**Sources**\n"
        "[1] Oil news (2014-03-01) — a.txt:1-9",
    )
    rw = rewrite("why did he resign?", hist)
    # The name came from the answer, so the previous question's topic words ride along.
    assert rw.followup and rw.query.startswith("why did Khalid Mansour resign")


def test_date_only_followup_keeps_topic_and_takes_new_window() -> None:
    rw1, hist = ask("How many refugees crossed into Jordan in June 2016?", [])
    rw = rewrite("and in 2015?", hist)
    assert rw.followup
    assert rw1.query == "How many refugees crossed into Jordan in June 2016?"
    assert rw.query == "How many refugees crossed into Jordan in 2015"
    assert rw.window is not None and rw.window.origin == "query"
    assert (rw.window.since, rw.window.until) == (dt.date(2015, 1, 1), dt.date(2015, 12, 31))


def test_place_swaps_chain() -> None:
    _, hist = ask("Did Russia send troops to Syria?", [])
    rw, hist = ask("what about Iraq?", hist)
    assert rw.followup and rw.query == "Did Russia send troops to Iraq?"
    assert "'Iraq' replaced 'Syria'" in rw.reason
    rw, hist = ask("and Turkey?", hist)
    assert rw.query == "Did Russia send troops to Turkey?"
    rw, _ = ask("What about Jordan and Lebanon?", hist)
    assert rw.query == "Did Russia send troops to Jordan and Lebanon?"
    assert rw.window is None


def test_lowercase_places_are_recognised() -> None:
    _, hist = ask("Did Russia send troops to Syria?", [])
    assert rewrite("what about iraq?", hist).query == "Did Russia send troops to iraq?"
    assert rewrite("and saudi arabia?", hist).query == "Did Russia send troops to saudi arabia?"
    assert [e.kind for e in entities("tell us about turkey")] == ["place"]


def test_what_about_with_pronoun_resolves_the_pronoun() -> None:
    _, hist = ask("Why did Energy Minister Khalid Mansour resign?", [])
    rw = rewrite("what about his brother?", hist)
    assert rw.followup and "Khalid Mansour's brother" in rw.query


def test_person_swaps_person_not_place() -> None:
    _, hist = ask("What did Obama say about Iran?", [])
    rw = rewrite("what about Putin?", hist)
    assert rw.query == "What did Putin say about Iran?"


def test_swap_with_new_dates() -> None:
    _, hist = ask("Did Russia send troops to Syria in 2015?", [])
    rw = rewrite("and Turkey in 2016?", hist)
    assert rw.query == "Did Russia send troops to Turkey in 2016"
    assert rw.window is not None and rw.window.since == dt.date(2016, 1, 1)
    rw = rewrite("what about Iraq?", hist)
    assert rw.query == "Did Russia send troops to Iraq in 2015"
    assert rw.window is not None and rw.window.origin == "conversation"
    assert rw.window.since == dt.date(2015, 1, 1)


def test_fresh_question_is_not_a_followup() -> None:
    _, hist = ask("Did Russia send troops to Syria in 2015?", [], "Russia sent troops [1].")
    question = "What did the IMF say about Egypt's loan?"
    rw = rewrite(question, hist)
    assert not rw.followup
    assert rw.query == question
    assert rw.window is None


def test_fresh_question_with_own_dates() -> None:
    _, hist = ask("Did Russia send troops to Syria in 2015?", [])
    rw = rewrite("What did the IMF say about Egypt's loan in 2016?", hist)
    assert not rw.followup
    assert rw.query == "What did the IMF say about Egypt's loan in 2016?"
    assert rw.window is not None and rw.window.origin == "query"


def test_pronoun_explained_inside_the_question() -> None:
    _, hist = ask("Did Russia send troops to Syria?", [])
    rw = rewrite("What did the IMF say about its loan to Egypt?", hist)
    assert not rw.followup and "Russia" not in rw.query


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Why did it intervene?", "Why did Russia intervene?"),
        ("what happened there?", "what happened in Syria?"),
        ("What did they do there?", "What did Russia do in Syria?"),
        ("Who fought them there?", "Who fought Russia in Syria?"),
        ("Who did its troops fight?", "Who did Russia's troops fight?"),
        ("why?", "why did Russia send troops to Syria?"),
    ],
)
def test_other_pronouns_and_bare_questions(question: str, expected: str) -> None:
    _, hist = ask("Did Russia send troops to Syria?", [])
    rw = rewrite(question, hist)
    assert rw.followup
    assert rw.query == expected


def test_expletive_there_and_it_are_not_references() -> None:
    _, hist = ask("Did Russia send troops to Syria?", [])
    for question in ("Were there protests in Cairo?", "Is it true that Egypt devalued?"):
        rw = rewrite(question, hist)
        assert not rw.followup, question
        assert "Syria" not in rw.query


def test_short_followup_without_names_adds_previous_names() -> None:
    _, hist = ask("Did Russia send troops to Syria?", [])
    rw = rewrite("and the casualties?", hist)
    assert rw.followup
    assert {"casualties", "russia", "syria"} <= words(rw.query)
    rw = rewrite("Who signed that deal?", hist)
    assert rw.followup and {"signed", "deal", "russia"} <= words(rw.query)


def test_unrelated_question_without_names_stands_alone() -> None:
    _, hist = ask("Did Russia send troops to Syria?", [])
    rw = rewrite("How do desalination plants work?", hist)
    assert not rw.followup and rw.query == "How do desalination plants work?"


def test_only_the_last_turn_counts() -> None:
    _, hist = ask("Did Russia send troops to Syria in 2015?", [])
    _, hist = ask("What did the IMF say about Egypt's loan?", hist)
    rw = rewrite("what about Tunisia?", hist)
    assert rw.query == "What did the IMF say about Tunisia's loan?"
    assert rw.window is None


def test_no_history_and_date_only_question() -> None:
    rw = rewrite("2015?", [])
    assert rw.query == "2015?" and not rw.followup
    assert rw.window is not None and rw.window.since == dt.date(2015, 1, 1)


def test_turn_without_rewritten_query() -> None:
    hist = [Turn("Did Russia send troops to Syria?", "", "", None)]
    assert rewrite("and Iraq?", hist).query == "Did Russia send troops to Iraq?"


def test_carried_window_keeps_bounds() -> None:
    window = DateWindow(dt.date(2013, 1, 1), None, "explicit")
    hist = [
        Turn("Did Russia send troops to Syria?", "Did Russia send troops to Syria?", "", window)
    ]
    rw = rewrite("and Iraq?", hist)
    assert rw.window == DateWindow(dt.date(2013, 1, 1), None, "conversation")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Why did Energy Minister Khalid Mansour resign?", [("Khalid Mansour", "person")]),
        ("Did Russia send troops to Syria?", [("Russia", "place"), ("Syria", "place")]),
        ("What did the IMF say about Egypt's loan?", [("IMF", "org"), ("Egypt", "place")]),
        ("What did Bashar al-Assad tell the envoy?", [("Bashar al-Assad", "person")]),
        (
            "The Muslim Brotherhood in Saudi Arabia",
            [("Muslim Brotherhood", "org"), ("Saudi Arabia", "place")],
        ),
        ("The Minister of Energy Khalid Mansour said", [("Khalid Mansour", "person")]),
        ("Refugees crossed into Jordan in June", [("Jordan", "place")]),
        ("How many of the 1,500 troops left Aleppo?", [("1,500", "number"), ("Aleppo", "place")]),
        ("Russia, Syria and Iran", [("Russia", "place"), ("Syria", "place"), ("Iran", "place")]),
    ],
)
def test_entities(text: str, expected: list[tuple[str, str]]) -> None:
    got = entities(text)
    assert [(e.text, e.kind) for e in got] == expected
    for e in got:
        assert text[e.start : e.end] == e.text


def test_rewrite_is_deterministic() -> None:
    _, hist = ask("Did Russia send troops to Syria?", [])
    assert rewrite("what about Iraq?", hist) == rewrite("what about Iraq?", hist)


# -- the Conversation object: the one owner of a conversation's turns ------------------------------


class EchoArchive:
    """Answers every question at once; remembers the history and options each ask was given."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[Turn], dict[str, object]]] = []

    def ask(self, question: str, history: list[Turn], **kw: object) -> Answer:
        self.asked.append((question, history, kw))
        window = DateWindow(dt.date(2016, 1, 1), dt.date(2016, 12, 31), "query", "in 2016")
        return Answer(f"About {question}.", [], [], False, f"query {question}", window)


def test_conversation_asks_with_earlier_turns_and_its_filters() -> None:
    archive = EchoArchive()
    conv = Conversation(archive, since="2016", source="syria")  # type: ignore[arg-type]
    first = conv.ask("Who visited Damascus?")
    conv.ask("What did he say?", until="2017")
    assert [q for q, _, _ in archive.asked] == ["Who visited Damascus?", "What did he say?"]
    assert archive.asked[0][1] == []
    assert archive.asked[1][1] == [
        Turn("Who visited Damascus?", "query Who visited Damascus?", first.text, first.window)
    ]
    assert archive.asked[1][2] == {"since": "2016", "until": "2017", "source": "syria"}
    assert len(conv.turns) == 2
    conv.reset()
    assert conv.turns == []


def test_answer_is_recorded_only_when_kept_and_restore_replaces_the_turns() -> None:
    archive = EchoArchive()
    conv = Conversation(archive)  # type: ignore[arg-type]
    kept = conv.answer("First?")
    conv.answer("Cancelled?")  # the chat drops this one: it never becomes a turn
    assert conv.turns == []
    conv.record("First?", kept)
    conv.answer("Second?")
    assert [t.question for t in archive.asked[-1][1]] == ["First?"]
    conv.restore([("Saved one?", kept), ("Saved two?", kept)])
    assert [t.question for t in conv.turns] == ["Saved one?", "Saved two?"]
    assert conv.turns[0] == Turn("Saved one?", kept.query_used, kept.text, kept.window)


def test_conversation_opens_a_lazy_archive_at_the_first_question() -> None:
    opened: list[EchoArchive] = []

    def open_archive() -> EchoArchive:
        opened.append(EchoArchive())
        return opened[-1]

    conv = Conversation(open_archive)  # type: ignore[arg-type]
    conv.restore([("Saved?", Answer("A.", [], [], False, "saved"))])
    assert opened == []  # holding turns does not open the index
    conv.ask("Next?")
    assert len(opened) == 1 and [t.question for t in opened[0].asked[0][1]] == ["Saved?"]
