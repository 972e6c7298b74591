"""Publication dates: parsed from metadata, or inferred only from unambiguous, well-placed text.

A wrong date is worse than none (date filters would silently hide the article), so inference
accepts only full dates with a 4-digit year, a day and an unambiguous month, found in a photo
caption or in a dateline at the very start of the body; never a date merely mentioned in the text.
"""

from __future__ import annotations

import datetime as dt
import re

MIN_YEAR = 1900
MAX_YEAR = 2100

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH = (
    r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ORD = r"(?:st|nd|rd|th)?"
# Each alternative has its own group names because Python forbids repeating a name.
_DATE = (
    rf"(?:\b(?P<m1>{_MONTH})\.?\s+(?P<d1>\d{{1,2}}){_ORD},?\s+(?P<y1>\d{{4}})\b"
    rf"|\b(?P<d2>\d{{1,2}}){_ORD}\s+(?:of\s+)?(?P<m2>{_MONTH})\.?,?\s+(?P<y2>\d{{4}})\b"
    r"|\b(?P<y3>\d{4})[-/.](?P<n3>\d{1,2})[-/.](?P<d3>\d{1,2})\b"
    r"|\b(?P<a4>\d{1,2})[-/.](?P<b4>\d{1,2})[-/.](?P<y4>\d{4})\b)"
)
_DATE_RE = re.compile(_DATE)
_WEEKDAY = r"(?i:(?:mon|tues|wednes|thurs|fri|satur|sun)day),?\s+"
_PLACE = r"[A-Z][\w.'’&-]*(?:\s+[A-Za-z][\w.'’&-]*){0,4}"
_CREDIT = r"(?:\s*\([^()\n]{1,30}\))?"
# "CAIRO, June 18, 2016 (AP) -", "London, 3 March 2012 -", "June 18, 2016: ..."
_DATELINE_RE = re.compile(
    rf"\s*(?:{_PLACE}{_CREDIT},\s*){{0,2}}(?:{_WEEKDAY})?{_DATE}{_CREDIT}\s*[-–—:]"
)
_DATELINE_WINDOW = 160
# A file photo shows an older event, so its date says nothing about the article.
_FILE_PHOTO_RE = re.compile(r"\b(?:file|archive|archival)\s+(?:photo|picture|image)\b", re.I)
_ISO_RE = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:$|[T\s])")
_NUMERIC_RE = re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{2,4})\b")


def _make(year: int, month: int, day: int) -> dt.date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _from_match(m: re.Match[str]) -> dt.date | None:
    g = m.group
    if g("y1"):
        return _make(int(g("y1")), _MONTHS[g("m1")[:3].lower()], int(g("d1")))
    if g("y2"):
        return _make(int(g("y2")), _MONTHS[g("m2")[:3].lower()], int(g("d2")))
    if g("y3"):
        return _make(int(g("y3")), int(g("n3")), int(g("d3")))
    first, second, year = int(g("a4")), int(g("b4")), int(g("y4"))
    if first <= 12 and second <= 12 and first != second:
        return None  # 03/04/2012: March 4 or 3 April? Refuse to guess.
    if first > 12:
        return _make(year, second, first)
    return _make(year, first, second)


def find_date(text: str) -> dt.date | None:
    """The first unambiguous full date anywhere in ``text`` (use on short texts like captions)."""
    for m in _DATE_RE.finditer(text):
        day = _from_match(m)
        if day is not None:
            return day
    return None


def caption_date(caption: str | None) -> dt.date | None:
    if not caption or _FILE_PHOTO_RE.search(caption):
        return None
    return find_date(caption)


def dateline_date(body: str) -> dt.date | None:
    """The date of a dateline that opens ``body``, e.g. ``"London, 3 March 2012 - ..."``."""
    m = _DATELINE_RE.match(body[:_DATELINE_WINDOW])
    return _from_match(m) if m else None


def infer_date(body: str, caption: str | None = None) -> dt.date | None:
    """Dateline first (it dates the article itself), then a photo caption."""
    return dateline_date(body) or caption_date(caption)


def _from_epoch(value: float) -> dt.date | None:
    if value > 1e11:  # milliseconds
        value /= 1000
    try:
        day = dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).date()
    except (OverflowError, OSError, ValueError):
        return None
    return day if MIN_YEAR <= day.year <= MAX_YEAR else None


_DEFAULT_A = dt.datetime(2001, 1, 1)
_DEFAULT_B = dt.datetime(2002, 2, 2)


def parse_date_value(value: object) -> dt.date | None:
    """A metadata date value as a date; None when missing, unparseable, partial or ambiguous."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value if MIN_YEAR <= value.year <= MAX_YEAR else None
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    text = str(value).strip()
    if not text or len(text) > 80:
        return None
    m = _ISO_RE.match(text)
    if m:
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    numeric = _NUMERIC_RE.search(text)
    if numeric:
        first, second = int(numeric.group(1)), int(numeric.group(2))
        if first <= 12 and second <= 12 and first != second:
            return None
    from dateutil import parser as date_parser  # only for the rare non-ISO metadata dates

    try:
        # Parsing against two different defaults reveals a missing year, month or day.
        a = date_parser.parse(text, default=_DEFAULT_A)
        b = date_parser.parse(text, default=_DEFAULT_B)
    except (ValueError, OverflowError, TypeError):
        return None
    if (a.year, a.month, a.day) != (b.year, b.month, b.day):
        return None
    return _make(a.year, a.month, a.day)
