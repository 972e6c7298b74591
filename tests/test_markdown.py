"""Answers as Markdown for the chat and the session export: archive text stays literal, each
sentence carries its ``[n]`` marker, and unsupported LLM sentences say so."""

from __future__ import annotations

from askarchive.answer.markdown import answer_markdown, escape_markdown
from askarchive.models import AnswerSentence
from tests.test_sessions import make_answer


def test_escape_markdown_neutralises_markup() -> None:
    raw = "[bold red]alert[/] [@click=app.quit]Click me[/] # not a heading <b>x</b> *y*"
    out = escape_markdown(raw)
    for ch in "[]<>*#":
        assert f"\\{ch}" in out
    # Unescaping gives back the original characters (nothing was dropped).
    assert out.replace("\\", "") == raw
    # A streamed piece keeps its spacing (more text follows); a whole one is one line.
    assert escape_markdown("a  [1]\n\n*b*", flatten=False) == "a  \\[1\\]\n\n\\*b\\*"
    assert escape_markdown("a  [1]\n\n*b*") == "a \\[1\\] \\*b\\*"


def test_answer_markdown_places_markers_after_sentences() -> None:
    md = answer_markdown(make_answer())
    assert md.index("\\[1\\]") < md.index("Putin") < md.index("\\[2\\]")


def test_unsupported_llm_sentences_are_flagged() -> None:
    a = make_answer()
    a.sentences[1] = AnswerSentence("Putin spoke.", 2, None, None, supported=False, note="no match")
    md = answer_markdown(a)
    assert md.count("⚠") == 1 and md.index("\\[2\\]") < md.index("⚠")
    assert "not supported by the source: no match" in md
