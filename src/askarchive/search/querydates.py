"""Publication-date windows read from the words of a query, and from ``--since``/``--until``.

``parse_window("How many refugees crossed into Jordan in June 2016?")`` returns the query without
the date phrase (what retrieval should match) and ``DateWindow(2016-06-01, 2016-06-30)``.

Conventions, chosen so a window never silently drops articles the user asked about:

* "since X" and "from X" start on the first day of X; "after X" starts the day after X ends
  ("after 2015" is 2016-01-01 onwards). "until/till/through/up to X" end on the last day of X;
  "before/prior to X" end the day before X starts.
* early/mid/late: of a month 1-10 / 11-20 / 21-end, of a year Jan-Apr / May-Aug / Sep-Dec, of a
  decade its years 0-3 / 3-6 / 6-9. Seasons are meteorological (northern): spring Mar-May, summer
  Jun-Aug, autumn/fall Sep-Nov, and "winter of Y" is December of Y-1 to February of Y.
* "from March to May 2016": the left side borrows the right side's year, and rolls back a year
  when that would reverse the range ("from November to February 2016" starts in November 2015).
* Several separate phrases combine: closed spans take their hull, open bounds then narrow it
  ("after 2015 but before 2018" is 2016-01-01 to 2017-12-31).
* Relative dates ("last year") are left alone: nothing says when "now" is for an archive.
* A year is a four-digit 1900-2099 standing as a word: not after ``$ # £ €``, a thousands
  separator or words like "Resolution"/"flight"/"at", and not before ``%`` or counted nouns
  ("2000 troops", "1930 GMT"). An impossible date ("31 June 2016") or a reversed range yields no
  window at all, and the query is returned unchanged.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, replace

from askarchive.errors import BadInput
from askarchive.models import DateWindow
from askarchive.text import word_set

_MONTH_NUM = {
    name: i
    for i, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
# The lookarounds keep "$2015", "1,2015", "2015%", "2015.5" and "2015-dollar" from being years.
_YEAR = r"(?<![\w$#£€¥])(?<!\d[,.])(?:19|20)\d\d(?![\w%])(?![.,]\d)(?!-[a-z])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?!\d)"
_QUAL = r"(?:early|mid|middle|late|(?:the\s+)?(?:beginning|start|middle|end)\s+of)(?:\s+|-(?=\w))"
_SEASON = r"(?:spring|summer|autumn|fall|winter)"
_DECADE = r"(?:the\s+)?(?:(?:early|mid|late)(?:\s+|-))?(?:19|20)\d0'?s\b"


def _point(year: bool) -> str:
    """A date expression; without ``year`` the year may be missing (left side of a range)."""
    y = rf",?\s*(?:of\s+)?{_YEAR}"
    opt = "" if year else "?"
    parts = [
        rf"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?!\d)",
        rf"(?:the\s+)?{_DAY}(?:\s+of)?\s+{_MONTH}(?:{y}){opt}",
        rf"{_MONTH}\s*{_DAY}(?:{y}){opt}",
        rf"(?:{_QUAL})?{_MONTH}(?:{y}){opt}",
        rf"(?:the\s+)?{_SEASON},?\s+(?:of\s+)?{_YEAR}",
        _DECADE,
        rf"(?:{_QUAL})?{_YEAR}",
    ]
    if not year:
        parts.append(_DAY)  # "from 3 to 18 June 2016"
    return "(?:" + "|".join(parts) + ")"


_ANY, _FULL = _point(False), _point(True)
_FLAGS = re.IGNORECASE
# Passes in priority order; each masks what it matched so later passes cannot reuse the words.
_RANGE = re.compile(
    rf"\b(?:between\s+(?P<a>{_ANY})\s+and\s+(?P<b>{_FULL})"
    rf"|from\s+(?P<c>{_ANY})\s*(?:to|until|till|through|thru|-|–|—)\s*(?P<d>{_FULL}))",
    _FLAGS,
)
_YEAR_RANGE = re.compile(
    rf"(?:\b(?:in|during|over)\s+)?(?:the\s+years\s+)?(?P<a>{_YEAR})\s*(?:-|–|—|/|to|through)\s*"
    r"(?P<b>(?:19|20)\d\d|\d\d)(?![\w%])(?![-/.]\d)",
    _FLAGS,
)
_OPEN = re.compile(
    r"\b(?P<cue>since|after|later\s+than|starting(?:\s+(?:in|from))?|from|before|prior\s+to"
    r"|earlier\s+than|until|till|up\s+(?:to|until)|through)\s+(?:(?:in|on)\s+)?"
    rf"(?P<a>{_FULL})",
    _FLAGS,
)
_SINGLE = re.compile(
    rf"(?:\b(?P<cue>in|on|during|throughout|for|of)\s+)?(?P<a>{_FULL})",
    _FLAGS,
)
_UPPER_CUES = ("before", "prior", "earlier", "until", "till", "up", "through")
_EXCLUSIVE_CUES = ("after", "later", "before", "prior", "earlier")


# Words that make a following four-digit number a count, code or clock time, not a year.
_NOT_YEAR_BEFORE = word_set("""
    resolution resolutions no number nos article articles law decree flight route item page
    pages room code model version chapter section paragraph vol volume issue case highway road bus
    at about around approximately nearly almost some over under than least roughly estimated total
    only just exactly numbered""")
_NOT_YEAR_AFTER = word_set("""
    troops soldiers people persons refugees fighters militants civilians dead deaths killed
    casualties wounded injured men women children families homes houses km kilometers kilometres
    miles meters metres feet tons tonnes barrels dollars euros pounds riyals rials dinars dirhams
    lira liras gmt utc hours hrs local votes seats members units students workers jobs cases
    prisoners detainees migrants tanks aircraft rockets missiles years times percent mw megawatts
    million billion""")
_WORD_BEFORE = re.compile(r"(\w+)\W*$")
_WORD_AFTER = re.compile(r"^\W*?(\w+)")


@dataclass(frozen=True, slots=True)
class _Match:
    start: int
    end: int
    since: dt.date | None
    until: dt.date | None
    valid: bool = True


def _month_of(text: str) -> int | None:
    m = re.search(_MONTH, text, _FLAGS)
    return _MONTH_NUM[m.group(0)[:3].lower()] if m else None


def _last_day(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _qualifier(text: str) -> str | None:
    m = re.match(r"\s*(?:the\s+)?(early|mid|middle|late|beginning|start|end)\b", text, _FLAGS)
    if not m:
        return None
    word = m.group(1).lower()
    return {"beginning": "early", "start": "early", "middle": "mid", "end": "late"}.get(word, word)


def _bounds(text: str, year: int | None) -> tuple[dt.date, dt.date] | None:
    """Inclusive bounds of one date expression; ``year`` fills in a missing year.

    Raises ValueError for impossible dates such as 31 June.
    """
    t = text.strip()
    if m := re.fullmatch(r"((?:19|20)\d\d)-(\d\d)-(\d\d)", t):
        day = dt.date(int(m[1]), int(m[2]), int(m[3]))
        return day, day
    if m := re.search(r"((?:19|20)\d)0'?s\b", t, _FLAGS):
        lo = int(m[1]) * 10
        part = {"early": (0, 3), "mid": (3, 6), "late": (6, 9)}.get(_qualifier(t) or "", (0, 9))
        return dt.date(lo + part[0], 1, 1), dt.date(lo + part[1], 12, 31)
    found = re.search(r"(?<!\d)((?:19|20)\d\d)(?!\d)", t)
    y = int(found[1]) if found else year
    if y is None:
        return None
    season = re.search(_SEASON, t, _FLAGS)
    if season:
        name = season[0].lower()
        if name == "winter":
            return dt.date(y - 1, 12, 1), _last_day(y, 2)
        first = {"spring": 3, "summer": 6}.get(name, 9)
        return dt.date(y, first, 1), _last_day(y, first + 2)
    month = _month_of(t)
    qual = _qualifier(t)
    if month is None:
        first, last = {"early": (1, 4), "mid": (5, 8), "late": (9, 12)}.get(qual or "", (1, 12))
        return dt.date(y, first, 1), _last_day(y, last)
    rest = re.sub(_MONTH, " ", t, count=1, flags=_FLAGS)
    rest = re.sub(r"(?:19|20)\d\d", " ", rest)
    if d := re.search(r"(?<!\d)(\d{1,2})(?!\d)", rest):
        day = dt.date(y, month, int(d[1]))
        return day, day
    end = _last_day(y, month)
    if qual == "early":
        return dt.date(y, month, 1), dt.date(y, month, 10)
    if qual == "mid":
        return dt.date(y, month, 11), dt.date(y, month, 20)
    if qual == "late":
        return dt.date(y, month, 21), end
    return dt.date(y, month, 1), end


def _year_in(text: str) -> int | None:
    found = re.search(r"(?<!\d)((?:19|20)\d\d)(?!\d)", text)
    return int(found[1]) if found else None


def _context_ok(text: str, start: int, end: int, cued: bool) -> bool:
    """Reject numbers that read as counts, codes or clock times rather than years."""
    after = _WORD_AFTER.match(text[end : end + 40])
    if after and after[1].lower() in _NOT_YEAR_AFTER and after[0][: after.start(1)].isspace():
        return False
    if cued:
        return True
    before = _WORD_BEFORE.search(text[max(0, start - 40) : start])
    return not (before and before[1].lower() in _NOT_YEAR_BEFORE)


def _range(a: str, b: str) -> tuple[dt.date | None, dt.date | None, bool] | None:
    """Bounds of "from A to B"; None when A is a bare day and B names no day (not a range)."""
    hi = _bounds(b, None)
    if hi is None:
        return None
    if re.fullmatch(_DAY, a.strip(), _FLAGS):
        if hi[0] != hi[1]:
            return None
        first = hi[0].replace(day=int(re.match(r"\d+", a.strip())[0]))  # type: ignore[index]
        return first, hi[1], first <= hi[1]
    inherit = _year_in(a) is None
    lo = _bounds(a, hi[0].year if inherit else None)
    assert lo is not None
    if inherit and lo[0] > hi[0]:
        # "from November to February 2016" means November 2015.
        lo = _bounds(a, hi[0].year - 1)
        assert lo is not None
    return lo[0], hi[1], lo[0] <= hi[1]


def _year_pair(y1: int, tail: str) -> tuple[dt.date, dt.date, bool]:
    """ "2012-2014", "2015-16" (consecutive years) or "2016-06" (ISO month)."""
    if len(tail) == 4:
        y2 = int(tail)
    else:
        two = int(tail)
        if two != (y1 + 1) % 100 and 1 <= two <= 12:
            return dt.date(y1, two, 1), _last_day(y1, two), True
        y2 = y1 // 100 * 100 + two
    return dt.date(y1, 1, 1), dt.date(y2, 12, 31), y1 <= y2


def _scan(query: str) -> list[_Match]:
    masked = query
    found: list[_Match] = []

    def take(start: int, end: int, since: dt.date | None, until: dt.date | None, ok: bool) -> None:
        nonlocal masked
        found.append(_Match(start, end, since, until, ok))
        masked = masked[:start] + "\0" * (end - start) + masked[end:]

    for m in list(_RANGE.finditer(masked)):
        a, b = (m["a"], m["b"]) if m["a"] is not None else (m["c"], m["d"])
        if not _context_ok(masked, m.start(), m.end(), True):
            continue
        try:
            got = _range(a, b)
        except ValueError:
            got = None, None, False
        if got is not None:
            take(m.start(), m.end(), *got)
    for m in list(_YEAR_RANGE.finditer(masked)):
        cued = bool(re.match(r"in|during|over|the", m[0], _FLAGS))
        if not _context_ok(masked, m.start(), m.end(), cued):
            continue
        take(m.start(), m.end(), *_year_pair(int(m["a"]), m["b"]))
    for m in list(_OPEN.finditer(masked)):
        if not _context_ok(masked, m.start(), m.end(), True):
            continue
        cue = m["cue"].split()[0].lower()
        try:
            b = _bounds(m["a"], None)
        except ValueError:
            take(m.start(), m.end(), None, None, False)
            continue
        assert b is not None
        if cue in _UPPER_CUES:
            hi = b[0] - dt.timedelta(days=1) if cue in _EXCLUSIVE_CUES else b[1]
            take(m.start(), m.end(), None, hi, True)
        else:
            lo = b[1] + dt.timedelta(days=1) if cue in _EXCLUSIVE_CUES else b[0]
            take(m.start(), m.end(), lo, None, True)
    for m in list(_SINGLE.finditer(masked)):
        # Only a bare number needs its neighbours checked; "the end of June 2016" is a date.
        cued = m["cue"] is not None or not m["a"].strip().isdigit()
        if not _context_ok(masked, m.start(), m.end(), cued):
            continue
        try:
            b = _bounds(m["a"], None)
        except ValueError:
            take(m.start(), m.end(), None, None, False)
            continue
        if b is not None:
            take(m.start(), m.end(), b[0], b[1], True)
    return sorted(found, key=lambda f: f.start)


def _combine(matches: list[_Match]) -> tuple[dt.date | None, dt.date | None] | None:
    closed = [m for m in matches if m.since is not None and m.until is not None]
    lows = [m.since for m in matches if m.since is not None and m.until is None]
    highs = [m.until for m in matches if m.until is not None and m.since is None]
    lo = min(m.since for m in closed) if closed else None  # type: ignore[type-var]
    hi = max(m.until for m in closed) if closed else None  # type: ignore[type-var]
    if lows:
        lo = max([*lows, lo] if lo else lows)  # type: ignore[type-var]
    if highs:
        hi = min([*highs, hi] if hi else highs)  # type: ignore[type-var]
    if lo is not None and hi is not None and lo > hi:
        return None
    return lo, hi


def tidy(text: str) -> str:
    """Whitespace and punctuation left tidy after phrases were cut out of a query."""
    t = re.sub(r"\s+", " ", text)
    t = re.sub(r"\(\s*\)|\[\s*\]", " ", t)
    t = re.sub(r"\s+([?.!,;:)\]])", r"\1", t)
    t = re.sub(r",+\s*([?.!;:])", r"\1", t)
    t = re.sub(r"(?:\s+(?:and|or|but)|,)+\s*([?.!]*)$", r"\1", t.strip(), flags=_FLAGS)
    t = re.sub(r"^(?:[\s,;:]+|(?:and|or|but)\b\s*)+", "", t, flags=_FLAGS)
    return re.sub(r"\s+", " ", t).strip()


# Words that make a date name *publication* ("articles from June 2016", "what did the archive
# report in March 1987"): such a window filters. Any other date in a question usually names
# when an event happened, which the news reports later, so it only ranks (search/datehint.py).
_PUBLICATION = re.compile(
    r"\b(?:articles?|stor(?:y|ies)|coverage|headlines?|newspapers?|published|dated|archive"
    r"|news(?!\s+(?:conference|agency|briefing))|reports?\s+(?:from|in|of|published|dated)"
    # "figures released on March 6", "the bulletin issued on March 3": the day of publication.
    r"|(?:released|issued|published|reported)\s+(?:on|in|at|during)\b"
    r"|(?:paper|press|media)\s+(?:say|said|report(?:ed)?|write|wrote))\b",
    _FLAGS,
)


def split_dates(query: str) -> tuple[str, DateWindow | None]:
    """Like ``parse_window`` but the remaining query may be empty (follow-ups need that)."""
    matches = _scan(query)
    if not matches or not all(m.valid for m in matches):
        return query.strip(), None
    bounds = _combine(matches)
    if bounds is None or bounds == (None, None):
        return query.strip(), None
    phrase = ", ".join(query[m.start : m.end].strip() for m in matches)
    kept, pos = [], 0
    for i, m in enumerate(matches):
        gap = query[pos : m.start]
        # "after 2015 but before 2018": the joining word goes with the phrases.
        if not (i and re.fullmatch(r"[\s,]*(?:(?:and|or|but)\b)?[\s,]*", gap, _FLAGS)):
            kept.append(gap)
        pos = m.end
    kept.append(query[pos:])
    use = "filter" if _PUBLICATION.search(query) else "hint"
    return tidy(" ".join(kept)), DateWindow(bounds[0], bounds[1], "query", phrase, use)


def parse_window(query: str) -> tuple[str, DateWindow | None]:
    """Split a query into (text to retrieve with, publication window named in it, if any).

    The window has origin "query" and ``phrase`` set to the matched words ("in June 2016"). Its
    ``use`` is "filter" when the words name publication and "hint" otherwise. When
    the query was nothing but a date, the original query is returned so retrieval has words.
    """
    cleaned, window = split_dates(query)
    if window is not None and not re.search(r"\w", cleaned):
        return query.strip(), window
    return cleaned, window


_ARG = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_date_arg(value: str | dt.date | None, *, end: bool) -> dt.date | None:
    """A ``since``/``until`` argument: ISO date, ``YYYY-MM`` or ``YYYY``.

    A month or year means its first day for ``since`` and its last day when ``end`` is true.
    None and blank strings mean "no bound". Anything else raises ``BadInput``.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not text:
        return None
    m = _ARG.fullmatch(text)
    try:
        if m is None:
            raise ValueError(text)
        year = int(m[1])
        if m[3] is not None:
            return dt.date(year, int(m[2]), int(m[3]))
        if m[2] is not None:
            month = int(m[2])
            return _last_day(year, month) if end else dt.date(year, month, 1)
        return dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
    except ValueError:
        raise BadInput(f"bad date {text!r}: use YYYY-MM-DD, YYYY-MM or YYYY") from None


def merge(explicit: DateWindow | None, parsed: DateWindow | None) -> DateWindow | None:
    """The window to apply when flags and the query's words both name dates.

    Per side: an explicit ``since`` replaces the parsed one, an explicit ``until`` likewise, and a
    side the flags leave open is taken from the words ("--since 2015" with "... before 2017" is
    2015-01-01 to 2016-12-31). If that combination is empty (the words contradict the flags) the
    explicit window alone applies. The result keeps origin "explicit" when the flags set any side,
    and carries the parsed phrase when the words contributed a side.
    """
    if explicit is not None and explicit.since is None and explicit.until is None:
        explicit = None
    if explicit is None:
        return parsed
    if parsed is None:
        return explicit
    since = explicit.since if explicit.since is not None else parsed.since
    until = explicit.until if explicit.until is not None else parsed.until
    if since is not None and until is not None and since > until:
        return explicit
    used_parsed = (explicit.since is None and parsed.since is not None) or (
        explicit.until is None and parsed.until is not None
    )
    return replace(
        explicit, since=since, until=until, phrase=parsed.phrase if used_parsed else None
    )
