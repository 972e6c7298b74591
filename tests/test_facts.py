"""Answers lead with the fact asked for: a figure, a name, a date, a place."""

from __future__ import annotations

import datetime as dt

import pytest

from askarchive.answer.extractive import extractive_answer
from askarchive.answer.facts import best_span, kind_of, off_measure
from askarchive.models import Citation, Passage


def _passage(body: str, similarity: float = 0.6, article: str = "a1", rank: int = 0) -> Passage:
    cit = Citation(article, "Title", dt.date(1987, 4, 2), f"arch/{article}.txt", None, 0, len(body))
    return Passage(body, 1.0 / (rank + 1), article, rank, cit, similarity=similarity)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How much chocolate did Japan import in 1986?", "figure"),
        ("What was the pre-tax profit of the bank's branch?", "figure"),
        ("By how much did the money supply grow?", "figure"),
        ("Who replaced the water minister?", "name"),
        ("Which brokerage employs the analyst?", "name"),
        ("When did the strike begin?", "date"),
        ("Where did the company plan to open its mine?", "place"),
        ("Why did the minister resign?", "reason"),
        ("What happened at the summit?", None),
    ],
)
def test_kind_of_question(question: str, kind: str | None) -> None:
    assert kind_of(question) == kind


def test_figure_span_prefers_money_and_skips_adjectives() -> None:
    sentence = (
        "Jordan signed a $1.1 billion agreement to build a desalination plant in Aqaba "
        "and a 320-kilometer pipeline."
    )
    span = best_span(sentence, "figure", "How much will the Aqaba desalination deal cost?")
    assert span is not None and span.text == "$1.1 billion"
    assert sentence[span.start : span.end] == span.text


def test_name_span_is_not_the_question_subject() -> None:
    sentence = "Lina Khasawneh was sworn in as minister, replacing Samir Haddadin, on June 14."
    span = best_span(sentence, "name", "Who replaced the water minister Haddadin?")
    assert span is not None and span.text == "Lina Khasawneh"


# The first sentence restates the question's words; the answer is in a later one.
TRADE = (
    "Japan's chocolate imports rose sharply in calendar 1986 as the strong yen made foreign "
    "chocolate cheaper for Japanese shoppers, the Finance Ministry said. "
    "Officials said importers of chocolate expect demand in Japan to keep rising in 1987. "
    "Chocolate imports totalled 8,285 tonnes, up from 6,100 the year before, most from Europe."
)


def test_answer_leads_with_the_figure_and_quotes_its_sentence() -> None:
    question = "How much chocolate did Japan import in 1986?"
    answer = extractive_answer(question, [_passage(TRADE)])
    assert not answer.abstained
    assert answer.lead is not None and answer.lead.text == "8,285 tonnes"
    assert answer.text.startswith("**8,285 tonnes** [1]")
    # The lead is an exact, cited span, and the full sentence holding it follows verbatim.
    assert TRADE[answer.lead.start : answer.lead.end] == "8,285 tonnes"  # type: ignore[misc]
    assert any("8,285 tonnes" in s.text for s in answer.sentences)


def test_no_lead_for_questions_without_a_fact_kind() -> None:
    answer = extractive_answer(
        "What did officials say about chocolate in Japan?", [_passage(TRADE)]
    )
    assert not answer.abstained and answer.lead is None


def test_the_sentence_holding_the_figure_is_preferred() -> None:
    # One sentence allowed: the one with the figure, not the one echoing the question's words.
    question = "How much chocolate did Japan import in 1986?"
    answer = extractive_answer(question, [_passage(TRADE)], max_sentences=1)
    assert [s.text[:24] for s in answer.sentences] == ["Chocolate imports totall"]


# Two figures: a stake in percent, and the money paid for it (wire copy of 1987).
WON = (
    "Allied-Lyons won control of the distiller last year in a battle against Gulf Canada, "
    "which finally got a 49 pct stake after a settlement."
)
PAID = "Allied-Lyons paid about 600 mln U.S. dlrs for its 51 pct of the distiller, it said."


def test_a_question_about_money_wants_the_amount_not_the_percentage() -> None:
    question = "Roughly what did Allied-Lyons spend on its holding in the distiller?"
    assert kind_of(question) == "figure"
    span = best_span(PAID, "figure", question)
    assert span is not None and span.text == "about 600 mln U.S. dlrs"
    assert not off_measure(span, question)
    pct = best_span(WON, "figure", question)
    assert pct is not None and "49 pct" in pct.text and off_measure(pct, question)
    answer = extractive_answer(question, [_passage(f"{WON} {PAID}")], max_sentences=1)
    assert answer.lead is not None and answer.lead.text == "about 600 mln U.S. dlrs"


def test_a_percentage_question_is_not_a_money_question() -> None:
    question = "By how much did prices rise in March?"
    span = best_span("Prices rose 2.5 pct in March.", "figure", question)
    assert span is not None and not off_measure(span, question)
