"""The one sentence splitter (on text wrapped at a fixed width as wire copy and e-mail are), the
one word normaliser and the one-line display form."""

from __future__ import annotations

import pytest

from askarchive.text import content_terms, normalize_term, one_line, sentence_spans, unwrap

# Wire copy as Reuters sent it: wrapped near 65 columns, paragraphs start indented, and the
# first line is short because the dateline in front of it was cut off.
WIRE = (
    "Finance Minister Mohammed\n"
    "Ali Abal-Khail said a committee will be set up to examine the\n"
    "problem of late government payments to contractors and\n"
    "companies operating in the kingdom.\n"
    "    He told a working session on the first day of a\n"
    "businessmen's conference yesterday that the committee, made up\n"
    "of Finance Ministry and Chamber of Commerce officials, will be\n"
    "formed shortly.\n"
    "    Net profit\n"
    "    Shr 17 cts vs 13 cts\n"
)


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def test_wrapped_sentences_come_back_whole() -> None:
    got = [one_line(s) for s in _sentences(WIRE)]
    assert got[0] == (
        "Finance Minister Mohammed Ali Abal-Khail said a committee will be set up to examine "
        "the problem of late government payments to contractors and companies operating in "
        "the kingdom."
    )
    assert got[1].startswith("He told a working session") and got[1].endswith("formed shortly.")
    # Short indented lines (a heading, a table row) keep their breaks.
    assert got[2:] == ["Net profit", "Shr 17 cts vs 13 cts"]


def test_spans_are_exact_slices_of_the_original() -> None:
    for a, b in sentence_spans(WIRE):
        assert WIRE[a:b].strip() == WIRE[a:b] and WIRE[a:b]
    assert len(unwrap(WIRE)) == len(WIRE)
    crlf = WIRE.replace("\n", "\r\n")
    assert [one_line(s) for s in _sentences(crlf)] == [one_line(s) for s in _sentences(WIRE)]


def test_paragraph_breaks_still_count() -> None:
    text = (
        "The council met on Monday to discuss the budget for the coming\n"
        "year and agreed to raise spending on schools by ten percent.\n"
        "\n"
        "Opposition members walked out before the vote was taken, saying\n"
        "the plan had been rushed through without a proper debate.\n"
    )
    got = [one_line(s) for s in _sentences(text)]
    assert len(got) == 2 and got[1].startswith("Opposition members walked out")


def test_unwrapped_text_and_lists_are_left_alone() -> None:
    # Paragraphs written one per line (web pages, the Asharq Al-Awsat archive) are never joined.
    long_lines = "\n".join(
        f"Paragraph {i} " + "runs on for a long while without any break at all " * 4
        for i in range(4)
    )
    assert unwrap(long_lines) == long_lines
    headlines = "Oil prices rise\nGold steady in London\nDollar falls against yen\n"
    assert unwrap(headlines) == headlines
    assert len(_sentences(headlines)) == 3


def test_one_line_collapses_whitespace_and_cuts_at_the_limit() -> None:
    assert one_line("a\n  b\tc ") == "a b c"
    assert one_line(ValueError("bad\nthing"), 160) == "bad thing"
    assert one_line("abcdef", 4) == "abc…"
    assert one_line("abcd", 4) == "abcd"


def test_content_terms_fold_plurals_possessives_and_stopwords() -> None:
    assert content_terms("The refugees' camps and Egypt's ministries") == [
        "refugee",
        "camp",
        "egypt",
        "ministry",
    ]
    words = ("Cities", "boxes", "glasses", "crisis", "status", "gas", "talks")
    assert [normalize_term(w) for w in words] == [
        "city",
        "box",
        "glass",
        "crisis",
        "status",
        "gas",
        "talk",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "Oil fell 2.5 pct. Traders said so on Monday. The U.S. dollar rose.",
        "Qui a gagné? ¿Quién ganó? 谁赢了？ Ünïcödé ﬁ ligatures. Next one.",
        "Emoji 😀 here. And 😀😀 there! Done",
        "é",
        "No full stop at the end",
    ],
)
def test_sentence_offsets_are_blingfires_own(line: str) -> None:
    """The direct call gives the sentence breaks of blingfire's wrapper, as character offsets,
    on ASCII and on multi-byte text alike."""
    import blingfire

    from askarchive.text import _sentence_offsets

    want = [tuple(span) for span in blingfire.text_to_sentences_and_offsets(line)[1]]
    assert _sentence_offsets(line) == want
    assert all(line[a:b].strip() for a, b in want)
