from __future__ import annotations

import datetime as dt

import pytest

from askarchive.errors import BadInput
from askarchive.models import DateWindow
from askarchive.search.querydates import merge, parse_date_arg, parse_window, tidy

D = dt.date


@pytest.mark.parametrize(
    ("query", "since", "until"),
    [
        ("refugees in June 2016", D(2016, 6, 1), D(2016, 6, 30)),
        ("June 2016", D(2016, 6, 1), D(2016, 6, 30)),
        ("June of 2016", D(2016, 6, 1), D(2016, 6, 30)),
        ("February 2016", D(2016, 2, 1), D(2016, 2, 29)),
        ("February 2015", D(2015, 2, 1), D(2015, 2, 28)),
        ("in early March 1987", D(1987, 3, 1), D(1987, 3, 10)),
        ("mid-June 2016", D(2016, 6, 11), D(2016, 6, 20)),
        ("in middle March 1987", D(1987, 3, 11), D(1987, 3, 20)),
        ("late February 2016", D(2016, 2, 21), D(2016, 2, 29)),
        ("at the end of June 2016", D(2016, 6, 21), D(2016, 6, 30)),
        ("the beginning of June 2016", D(2016, 6, 1), D(2016, 6, 10)),
        ("2015", D(2015, 1, 1), D(2015, 12, 31)),
        ("in 2015", D(2015, 1, 1), D(2015, 12, 31)),
        ("between 2012 and 2014", D(2012, 1, 1), D(2014, 12, 31)),
        ("from 2012 to 2014", D(2012, 1, 1), D(2014, 12, 31)),
        ("from 2012 until 2014", D(2012, 1, 1), D(2014, 12, 31)),
        ("2012-2014", D(2012, 1, 1), D(2014, 12, 31)),
        ("2012–14", D(2012, 1, 1), D(2014, 12, 31)),
        ("the 2015-16 season", D(2015, 1, 1), D(2016, 12, 31)),
        ("2016-06", D(2016, 6, 1), D(2016, 6, 30)),
        ("from March to May 2016", D(2016, 3, 1), D(2016, 5, 31)),
        ("between March and May 2016", D(2016, 3, 1), D(2016, 5, 31)),
        ("from November to February 2016", D(2015, 11, 1), D(2016, 2, 29)),
        ("from June 2015 to March 2016", D(2015, 6, 1), D(2016, 3, 31)),
        ("from 3 to 18 June 2016", D(2016, 6, 3), D(2016, 6, 18)),
        ("since 2015", D(2015, 1, 1), None),
        ("from 2015", D(2015, 1, 1), None),
        ("starting in 2013", D(2013, 1, 1), None),
        ("after 2015", D(2016, 1, 1), None),
        ("after June 2016", D(2016, 7, 1), None),
        ("after 18 June 2016", D(2016, 6, 19), None),
        ("before 2015", None, D(2014, 12, 31)),
        ("prior to 2003 invasion", None, D(2002, 12, 31)),
        ("until 2015", None, D(2015, 12, 31)),
        ("up to 2014", None, D(2014, 12, 31)),
        ("through March 2014", None, D(2014, 3, 31)),
        ("on 18 June 2016", D(2016, 6, 18), D(2016, 6, 18)),
        ("the 18th of June, 2016", D(2016, 6, 18), D(2016, 6, 18)),
        ("June 18, 2016", D(2016, 6, 18), D(2016, 6, 18)),
        ("June 18th 2016", D(2016, 6, 18), D(2016, 6, 18)),
        ("2016-06-18", D(2016, 6, 18), D(2016, 6, 18)),
        ("Feb 29 2016", D(2016, 2, 29), D(2016, 2, 29)),
        ("in the 1990s", D(1990, 1, 1), D(1999, 12, 31)),
        ("1990's war", D(1990, 1, 1), D(1999, 12, 31)),
        ("the early 2000s", D(2000, 1, 1), D(2003, 12, 31)),
        ("the mid-1990s", D(1993, 1, 1), D(1996, 12, 31)),
        ("in the spring of 2014", D(2014, 3, 1), D(2014, 5, 31)),
        ("summer 2016", D(2016, 6, 1), D(2016, 8, 31)),
        ("autumn of 2014", D(2014, 9, 1), D(2014, 11, 30)),
        ("fall 2014", D(2014, 9, 1), D(2014, 11, 30)),
        ("winter of 2016", D(2015, 12, 1), D(2016, 2, 29)),
        ("early 2016", D(2016, 1, 1), D(2016, 4, 30)),
        ("mid 2016", D(2016, 5, 1), D(2016, 8, 31)),
        ("late 2016", D(2016, 9, 1), D(2016, 12, 31)),
        ("the end of 2016", D(2016, 9, 1), D(2016, 12, 31)),
        ("in Jan. 2016", D(2016, 1, 1), D(2016, 1, 31)),
        ("Sept 2015", D(2015, 9, 1), D(2015, 9, 30)),
        ("sept. 11, 2001", D(2001, 9, 11), D(2001, 9, 11)),
        ("Dec 2010", D(2010, 12, 1), D(2010, 12, 31)),
        ("AUGUST 2013", D(2013, 8, 1), D(2013, 8, 31)),
        ("after 2015 but before 2018", D(2016, 1, 1), D(2017, 12, 31)),
        ("in 2014 and 2016", D(2014, 1, 1), D(2016, 12, 31)),
        ("Resolution 2254 adopted in 2015", D(2015, 1, 1), D(2015, 12, 31)),
    ],
)
def test_windows(query: str, since: dt.date | None, until: dt.date | None) -> None:
    _, window = parse_window(query)
    assert window is not None, query
    assert (window.since, window.until) == (since, until)
    assert window.origin == "query"


@pytest.mark.parametrize(
    "query",
    [
        "1,500 troops crossed",
        "Resolution 2254",
        "Resolution 2042 vote",
        "it cost $2015",
        "ticket #2015",
        "a 2015-dollar figure",
        "the strike at 1930 GMT",
        "rose 2015% overnight",
        "2000 troops entered",
        "about 1950 people fled",
        "flight 1985 crashed",
        "pi is 3.2015 or so",
        "in 2000 troops arrived",
        "What happened in March?",
        "protesters march on the capital",
        "Why did the minister resign?",
        "",
    ],
)
def test_numbers_that_are_not_years(query: str) -> None:
    cleaned, window = parse_window(query)
    assert window is None, query
    assert cleaned == query.strip()


@pytest.mark.parametrize(
    "query",
    [
        "between 2014 and 2012",
        "from 2016 to 2015",
        "2014-2012",
        "31 June 2016",
        "on February 30, 2016",
        "Feb 29 2015",
        "from 31 to 18 June 2016",
        "in 1985 and after 2016",  # a closed span and an open bound that cannot meet
    ],
)
def test_invalid_or_reversed_gives_no_window(query: str) -> None:
    cleaned, window = parse_window(query)
    assert window is None
    assert cleaned == query  # nothing was interpreted, so nothing is removed


@pytest.mark.parametrize(
    ("query", "cleaned", "phrase"),
    [
        (
            "How many refugees crossed into Jordan in June 2016?",
            "How many refugees crossed into Jordan?",
            "in June 2016",
        ),
        ("In 2014, who resigned?", "who resigned?", "In 2014"),
        ("What happened between 2012 and 2014 in Homs?", "What happened in Homs?", None),
        ("refugees after 2015 but before 2018 in Jordan", "refugees in Jordan", None),
        ("Jordan refugees (2015)", "Jordan refugees", "2015"),
        ("Aleppo   during the summer of 2016 ?", "Aleppo?", "during the summer of 2016"),
        ("mid-June 2016 attacks", "attacks", "mid-June 2016"),
        ("Resolution 2254 in 2015", "Resolution 2254", "in 2015"),
    ],
)
def test_phrase_removed_and_tidied(query: str, cleaned: str, phrase: str | None) -> None:
    got, window = parse_window(query)
    assert window is not None
    assert got == cleaned
    if phrase is not None:
        assert window.phrase == phrase
    assert window.phrase and window.phrase.split()[-1].strip("?") in query


def test_query_that_is_only_a_date_keeps_its_words() -> None:
    cleaned, window = parse_window("June 2016")
    assert cleaned == "June 2016"
    assert window is not None and window.since == D(2016, 6, 1)


def test_window_contains_its_bounds_only() -> None:
    _, window = parse_window("in June 2016")
    assert window is not None
    assert window.contains(D(2016, 6, 1)) and window.contains(D(2016, 6, 30))
    assert not window.contains(D(2016, 5, 31)) and not window.contains(D(2016, 7, 1))


def test_whole_text_is_never_a_crash() -> None:
    weird = [
        "from to",
        "between and",
        "since",
        "the 1990",
        "9999",
        "June 0, 2016",
        "from 2019-13-01",
        "2016-02-30",
        "\x00 2015 \x00",
        "ünïcode 2015 ☃",
        "2015" * 20,
        "in " * 50 + "2015",
    ]
    for text in weird:
        cleaned, window = parse_window(text)
        assert isinstance(cleaned, str)
        assert (
            window is None
            or window.since is None
            or window.until is None
            or (window.since <= window.until)
        )


def test_tidy() -> None:
    assert tidy("  refugees  ,  in   Jordan  ?") == "refugees, in Jordan?"
    assert tidy("refugees in Jordan and ?") == "refugees in Jordan?"
    assert tidy(", who resigned?") == "who resigned?"
    assert tidy("Jordan () refugees") == "Jordan refugees"


@pytest.mark.parametrize(
    ("value", "end", "expected"),
    [
        ("2016-06-18", False, D(2016, 6, 18)),
        ("2016-06-18", True, D(2016, 6, 18)),
        ("2016-06", False, D(2016, 6, 1)),
        ("2016-06", True, D(2016, 6, 30)),
        ("2016-02", True, D(2016, 2, 29)),
        ("2015", False, D(2015, 1, 1)),
        ("2015", True, D(2015, 12, 31)),
        (" 2015 ", True, D(2015, 12, 31)),
        (D(2014, 3, 4), True, D(2014, 3, 4)),
        (dt.datetime(2014, 3, 4, 12, 30), False, D(2014, 3, 4)),
        (None, False, None),
        ("", True, None),
    ],
)
def test_parse_date_arg(value: str | dt.date | None, end: bool, expected: dt.date | None) -> None:
    assert parse_date_arg(value, end=end) == expected


@pytest.mark.parametrize(
    "value", ["June 2016", "2016/06/18", "16-06-18", "2016-13", "2016-02-30", "0000", "yesterday"]
)
def test_parse_date_arg_rejects(value: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_date_arg(value, end=False)
    assert str(err.value) == f"bad date {value!r}: use YYYY-MM-DD, YYYY-MM or YYYY"


def test_merge_explicit_wins_per_side() -> None:
    parsed = DateWindow(D(2016, 6, 1), D(2016, 6, 30), "query", "in June 2016")
    explicit = DateWindow(D(2016, 6, 10), None, "explicit")
    got = merge(explicit, parsed)
    assert got is not None
    assert (got.since, got.until) == (D(2016, 6, 10), D(2016, 6, 30))
    assert got.origin == "explicit" and got.phrase == "in June 2016"


def test_merge_explicit_both_sides_replace_parsed() -> None:
    parsed = DateWindow(D(2016, 6, 1), D(2016, 6, 30), "query", "in June 2016")
    explicit = DateWindow(D(2010, 1, 1), D(2011, 1, 1), "explicit")
    assert merge(explicit, parsed) == explicit


def test_merge_contradiction_keeps_explicit() -> None:
    parsed = DateWindow(D(2015, 1, 1), D(2015, 12, 31), "query", "in 2015")
    explicit = DateWindow(D(2017, 1, 1), None, "explicit")
    assert merge(explicit, parsed) == explicit


def test_merge_with_nothing() -> None:
    parsed = DateWindow(D(2015, 1, 1), D(2015, 12, 31), "query", "in 2015")
    assert merge(None, parsed) == parsed
    assert merge(DateWindow(), parsed) == parsed
    assert merge(None, None) is None
    explicit = DateWindow(None, D(2015, 3, 1), "explicit")
    assert merge(explicit, None) == explicit
