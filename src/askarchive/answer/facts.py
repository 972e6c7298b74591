"""What kind of fact a question asks for, and where a sentence states one.

"How much will the deal cost?" asks for a figure, "Who replaced her?" for a name, "When ..."
for a date, "Where ..." for a place, "Why ..." for a reason. A sentence that restates the
question's words without that fact does not answer it; one that holds the fact, near the
question's words, does. ``extractive.py`` uses this twice: to prefer sentences holding a fact of
the asked kind, and to lead the answer with the shortest span that states it.

Plain rules over words, no model: they cost microseconds and say why they matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from askarchive.text import CALENDAR, STOPWORDS, WORD, normalize_term, word_set

Kind = Literal["figure", "name", "date", "place", "reason"]
# Characters of distance a one-word name span gives away to a longer one (see best_span).
LONE_WORD_PENALTY = 20

_I = re.IGNORECASE
# Nouns whose value is a figure: "what was the revenue", "what trade surplus", "at what pace".
_FIGURE_NOUNS = (
    r"(?:revenues?|profits?|earnings|sales|loss(?:es)?|income|prices?|rates?|levels?|totals?"
    r"|costs?|value|output|production|reserves|deficit|surplus|growth|turnover|debts?|budget"
    r"|spending|capacity|population|toll|count|score|stake|share|percentage|proportion|portion"
    r"|fraction|amount|number|pace|sum|figure|margin|size|time|offer|bid|dividend|salary|fine"
    r"|limit|quota|volume|yield|ratio|balance|premium|tariff|increase|decrease|rise|fall|drop"
    r"|gain|lead|distance|length|height|weight|speed|age|duration|worth)"
)
_FIGURE_VERBS = (
    r"(?:spend|pay|earn|cost|raise|lose|make|charge|average|total|fetch|gain|borrow|lend|owe"
    r"|sell\s+for|buy\s+for|receive|invest|export|import|produce|ship)"
)
# Checked in order; the first that matches decides.
_KINDS: list[tuple[Kind, re.Pattern[str]]] = [
    (
        "reason",
        re.compile(
            r"^\W*why\b|\bfor\s+what\s+reason|\bwhat\s+(?:(?:was|were|is|are)\s+)?"
            r"(?:the\s+|their\s+|his\s+|her\s+|its\s+)?(?:reasons?|cause|motive)\b",
            _I,
        ),
    ),
    (
        "figure",
        re.compile(
            r"\b(?:how\s+(?:much|many|large|big|high|low|long|far|fast|old|heavy|deep|tall|wide)"
            r"|by\s+how"
            rf"|(?:what|which)\s+(?:[\w'’,-]+\s+){{0,4}}?{_FIGURE_NOUNS}"
            rf"|what\s+(?:did|does|do|will|would)\s+(?:[\w'’.-]+\s+){{1,6}}?{_FIGURE_VERBS}"
            r"|\bworth\W*$)\b",
            _I,
        ),
    ),
    (
        "date",
        re.compile(
            r"^\W*when\b|\b(?:what|which|on\s+what|on\s+which)\s+(?:date|day|year|month)\b", _I
        ),
    ),
    (
        "place",
        re.compile(
            r"^\W*where\b|\b(?:in|at|from|to|near)\s+(?:what|which)\s+(?:city|town|country"
            r"|village|region|province|state|port|place|district|area|capital|island|airport"
            r"|hospital|university|stadium|prison|camp|venue|site|location|bridge|street)\b",
            _I,
        ),
    ),
    # Any other "who"/"which" question names someone or something.
    (
        "name",
        re.compile(
            r"\b(?:who|whom|whose|which)\b|\bwhat\s+(?:[\w'’-]+\s+){0,4}?(?:name|title)\b", _I
        ),
    ),
]

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_SCALE = r"(?:mln|million|bln|billion|trillion|thousand|pct|percent|per\s+cent|%)"
_NUMBER = re.compile(
    r"(?:(?:about|around|nearly|almost|some|over|under|up\s+to|more\s+than|less\s+than"
    r"|roughly|approximately|at\s+least)\s+)?"
    r"(?:[$£€¥]\s?)?\d[\d,]*(?:\.\d+)?(?:\s*-\s*\d[\d,]*(?:\.\d+)?)?"
    rf"(?:\s*{_SCALE})?(?:\s+(?:U\.S\.|U\.K\.|Canadian|Australian|HK|Saudi))?"
    r"(?:\s+(?!(?:and|or|to|from|in|on|at|by|of|for|the|a|an|vs|said|says|was|were|is|are"
    r"|after|before|against|with|than|as)\b)[a-z][a-z/-]{1,14}\b)?",
)
_IN_DATE_BEFORE = re.compile(rf"\b{_MONTHS}\s*$", _I)
_IN_DATE_AFTER = re.compile(rf"\s*(?:,\s*(?:19|20)\d\d\b|{_MONTHS})", _I)
_MONEY = re.compile(rf"[$£€¥]\s?\d[\d,]*(?:\.\d+)?(?:\s*{_SCALE})?")
# A question that asks what something cost, was spent or was worth wants an amount of money; a
# percentage or a count in the same sentence is another measure ("49 pct stake" is not what
# Allied-Lyons spent). Verbs only: "by how much did prices rise" wants a percentage.
_MONEY_ASKED = re.compile(
    r"\b(?:spen[dt]s?|spending|pa(?:y|ys|id|ying)|costs?|costing|charg(?:e|es|ed|ing)"
    r"|fetch(?:es|ed)?|borrow(?:s|ed)?|lend(?:s)?|lent|owe[sd]?|invest(?:s|ed)?|worth)\b",
    _I,
)
_CURRENCY = re.compile(
    r"[$£€¥]|\b(?:dlrs?|dollars?|cents?|pounds?|sterling|francs?|marks?|yen|yuan|euros?|lire"
    r"|lira|crowns?|kron(?:a|e|er|or)|riyals?|dinars?|dirhams?|rupees?|pesos?|rand|shekels?"
    r"|r[ou]bles?|guilders?|pence)\b",
    _I,
)
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}\s+{_MONTHS}(?:,?\s+\d{{4}})?|{_MONTHS}\s+\d{{1,2}}(?:,?\s+\d{{4}})?"
    rf"|{_MONTHS}\s+\d{{4}}|(?:on\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday"
    r"|sunday)|(?:in\s+)?(?:19|20)\d\d)\b",
    _I,
)
# A run of capitalised words, allowing the particles and hyphens of Arabic and European names.
_NAME = re.compile(
    r"(?:(?<=\s)|(?<=^)|(?<=[(\"“']))(?:[A-Z][\w'’.&-]*|al-\w+|el-\w+)"
    r"(?:\s+(?:(?:al|el|bin|ibn|bint|abu|de|da|di|du|van|von|der|den|le|la|del)(?:-\w+)?\s+)?"
    r"(?:[A-Z][\w'’.&-]*|al-\w+|\d+))*"
)
_REASON = re.compile(
    r"\b(?:because(?:\s+of)?|due\s+to|owing\s+to|as\s+a\s+result\s+of|in\s+protest"
    r"|citing|so\s+that|in\s+order\s+to|to\s+protest|blamed|prompted|led\s+to)\b",
    _I,
)
_CLAUSE_END = re.compile(r"[,;:!?]|\.(?=\s|$)|\s(?:and|but|while|whereas)\s")
# Words capitalised only because they open a sentence or are titles, not answers on their own.
_NOT_NAMES = (
    STOPWORDS
    | CALENDAR
    | word_set(
        """mr mrs ms dr minister president spokesman officials official sources the a he she it
    they we reuters"""
    )
)


# Titles and ranks that stand before a name: "President", "Finance Minister", "Sir".
_TITLES = word_set("""
    president minister secretary spokesman spokeswoman chairman chairwoman chief director
    governor senator ambassador general prince king queen sheikh sir lord judge prosecutor
    commissioner mayor premier chancellor undersecretary economist analyst official deputy
    vice foreign finance prime state commerce trade defence defense interior energy oil""")


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of a sentence that states a fact: ``sentence[start:end]``."""

    start: int
    end: int
    text: str
    kind: Kind


def kind_of(question: str) -> Kind | None:
    """The kind of fact ``question`` asks for, or None for other questions."""
    for kind, pattern in _KINDS:
        if pattern.search(question):
            return kind
    return None


@lru_cache(maxsize=32)
def _asked(question: str) -> frozenset[str]:
    # The same question is asked of every candidate sentence of one answer: computed once.
    return frozenset(normalize_term(w) for w in WORD.findall(question.lower()))


def _new(text: str, asked: frozenset[str]) -> bool:
    """The span says something the question did not: one of its content words is new."""
    words = [normalize_term(w) for w in WORD.findall(text.lower())]
    return any(w not in asked and w not in STOPWORDS for w in words)


def _trim(sentence: str, start: int, end: int) -> tuple[int, int]:
    while end > start and sentence[end - 1] in " ,;:.":
        # Keep the dot of an abbreviation such as "U.S." or "Inc."
        if sentence[end - 1] == "." and re.search(
            r"(?:\b[A-Z]\.|\b(?:Inc|Co|Corp|Ltd))\.$", sentence[start:end]
        ):
            break
        end -= 1
    while start < end and sentence[start] == " ":
        start += 1
    return start, end


@lru_cache(maxsize=32)
def _purpose(question: str) -> re.Pattern[str] | None:
    """ "Why did X resign?" is answered by "resigned to donate ...": the verb, then "to"."""
    m = re.search(
        r"\bwhy\s+(?:did|does|do|had|has|have|was|were|is|are|would|will)\s+(.*)", question, _I
    )
    if m is None:
        return None
    # The verb is the last plain word before any date: "... resign in June 2016?"
    words = [
        w
        for w in WORD.findall(m.group(1).lower())
        if len(w) >= 3 and w.isalpha() and w not in _NOT_NAMES
    ]
    if not words:
        return None
    stem = re.escape(words[-1][:5])
    return re.compile(rf"\b{stem}\w*\s+(?:\w+\s+)?(?:in\s+order\s+)?to\s+[a-z]+", _I)


def _name_runs(sentence: str, asked: frozenset[str]) -> list[tuple[int, int]]:
    out = []
    for m in _NAME.finditer(sentence):
        words = list(re.finditer(r"\S+", m.group(0)))
        # Drop words capitalised for another reason ("The", "Finance", a dateline "Amman-")
        # and numbers at either end ("June 14" is a date, not a name).
        # Words the question already says ("Turkish President Recep Tayyip Erdogan" for
        # "Which Turkish leader ...") go too: what is left is the new part of the name.
        while words and (
            words[0].group(0).lower().strip(".'’") in _NOT_NAMES
            or words[0].group(0).endswith("-")
            or words[0].group(0)[:1].isdigit()
            or (len(words) > 1 and normalize_term(words[0].group(0).lower()) in asked)
            or (len(words) > 1 and words[0].group(0).lower() in _TITLES)
        ):
            words.pop(0)
        while words and words[-1].group(0)[:1].isdigit():
            words.pop()
        if words:
            out.append((m.start() + words[0].start(), m.start() + words[-1].end()))
    return out


def _figures(sentence: str) -> list[tuple[int, int]]:
    out = []
    for m in _NUMBER.finditer(sentence):
        a, b = m.start(), m.end()
        text = sentence[a:b]
        if re.fullmatch(r"(?:19|20)\d\d", text.strip()):
            continue  # a bare year is a date, not the figure asked for
        if sentence[b : b + 1] == "-" and sentence[b + 1 : b + 2].isalpha():
            continue  # "a 320-kilometer pipeline": a number inside an adjective
        if _IN_DATE_BEFORE.search(sentence[:a]) or _IN_DATE_AFTER.match(sentence[b:]):
            continue  # "March 1, 1987", "Sept. 30": part of a date
        money = _MONEY.search(text)
        if money is not None:  # "$1.1 billion agreement": the money is the figure
            b = a + money.end()
        out.append((a, b))
    return out


def spans(sentence: str, kind: Kind, question: str) -> list[Span]:
    """Spans of ``sentence`` stating a fact of ``kind`` that the question does not already say."""
    asked = _asked(question)
    if kind == "figure":
        matches = _figures(sentence)
    elif kind == "date":
        matches = [(m.start(), m.end()) for m in _DATE.finditer(sentence)]
    elif kind in ("name", "place"):
        matches = _name_runs(sentence, asked)
    else:  # reason
        cues = list(_REASON.finditer(sentence))
        purpose = _purpose(question)
        if purpose is not None:
            cues += list(purpose.finditer(sentence))
        matches = []
        for m in cues:
            stop = _CLAUSE_END.search(sentence, m.end())
            matches.append((m.start(), stop.start() if stop else len(sentence)))
    found: list[Span] = []
    for a, b in matches:
        a, b = _trim(sentence, a, b)
        text = sentence[a:b]
        if b > a and _new(text, asked):
            found.append(Span(a, b, text, kind))
    return found


@lru_cache(maxsize=32)
def _asks_money(question: str) -> bool:
    # Asked of every figure span of every candidate sentence of one answer: computed once.
    return _MONEY_ASKED.search(question) is not None


def off_measure(span: Span, question: str) -> bool:
    """A figure of another measure than the one asked: not money, for a question about what
    something cost."""
    return span.kind == "figure" and _asks_money(question) and _CURRENCY.search(span.text) is None


def best_span(sentence: str, kind: Kind, question: str) -> Span | None:
    """The fact span most likely to answer: one that shares no word with the question (the
    question's own subject is not its answer), for a figure one with a unit or scale, and
    then the one closest to where the sentence echoes the question."""
    found = spans(sentence, kind, question)
    if not found:
        return None
    asked = _asked(question) - STOPWORDS
    anchors = [
        m.start() for m in WORD.finditer(sentence) if normalize_term(m.group(0).lower()) in asked
    ]

    def key(span: Span) -> tuple[bool, bool, bool, int]:
        words = {normalize_term(w) for w in WORD.findall(span.text.lower())}
        near = min((min(abs(a - span.start), abs(a - span.end)) for a in anchors), default=0)
        if kind == "figure":  # a figure without unit or scale is rarely the one asked for
            bare = not re.search(rf"[$£€¥%]|\d\s*{_SCALE}|\d\s+[a-z]", span.text)
            return (bool(words & asked), off_measure(span, question), bare, near)
        # A lone capitalised word is more often part of something else than a name: it must
        # stand closer to the question's words to win.
        if kind in ("name", "place") and not re.search(r"[\s-]", span.text):
            near += LONE_WORD_PENALTY
        return (bool(words & asked), False, False, near)

    return min(found, key=key)
