"""Follow-up questions rewritten into standalone queries by a few explainable rules (no LLM).

Only the previous turn is consulted: its ``query_used`` is already standalone, so chains such as
"Did Russia send troops to Syria?" → "what about Iraq?" → "and Turkey?" resolve one step at a
time. Rules, tried in order (``Rewrite.reason`` names the one that fired):

1. Elliptical follow-up ("what about Iraq?", "and in 2015?", "Turkey?"): names in it replace the
   previous query's name of the same kind (place for place, person for person); a bare date
   reuses the previous query; other words are added to the previous query's names.
2. Pronoun ("his family", "what did he say", "what happened there"): the pronoun becomes the
   previous turn's matching name (people for he/she, places and organisations for it, a place
   for there), unless a fitting name earlier in the same question already explains it.
3. No names of its own and almost no content ("why?", "what happened next?", "that deal"): the
   previous query's names are added.
4. Otherwise the question stands alone: ``followup=False`` and no dates are carried.

Names are runs of capitalised words (leading question words and titles such as "Energy
Minister" dropped), acronyms, and numbers; a small gazetteer tells places from people.
Dates named in the question always apply; a follow-up without its own dates carries the previous
turn's window with origin "conversation".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from askarchive.models import DateWindow, Turn
from askarchive.search.querydates import split_dates, tidy
from askarchive.text import CALENDAR, DEMONYM, STOPWORDS, content_terms, word_set


@dataclass(frozen=True, slots=True)
class Rewrite:
    query: str  # what to retrieve with (a filter's date phrases removed, a hint's kept)
    window: DateWindow | None  # dates to apply: from this question, else carried, else None
    followup: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Entity:
    text: str
    kind: str  # person | place | org | name | number
    start: int
    end: int


_PLACES = frozenset(
    name.strip()
    for name in """afghanistan, albania, algeria, angola, argentina, armenia, australia, austria,
    azerbaijan, bahrain, bangladesh, belarus, belgium, bosnia, brazil, britain, bulgaria, burma,
    canada, chad, chile, china, colombia, croatia, cuba, cyprus, czech republic, denmark, djibouti,
    egypt, eritrea, ethiopia, finland, france, georgia, germany, greece, hungary, india, indonesia,
    iran, iraq, ireland, israel, italy, japan, jordan, kazakhstan, kenya, kosovo, kuwait, lebanon,
    libya, malaysia, mali, mauritania, mexico, morocco, myanmar, nepal, netherlands, niger, nigeria,
    north korea, norway, oman, pakistan, palestine, philippines, poland, portugal, qatar, romania,
    russia, saudi arabia, senegal, serbia, somalia, south africa, south korea, south sudan, spain,
    sri lanka, sudan, sweden, switzerland, syria, tajikistan, tanzania, thailand, tunisia, turkey,
    turkmenistan, uganda, ukraine, united arab emirates, uae, united kingdom, uk, united states,
    us, usa, u.s, america, uzbekistan, venezuela, vietnam, yemen, europe, africa, asia, middle east,
    gulf, arabian gulf, persian gulf, red sea, mediterranean, levant, maghreb, sahel, sinai, gaza,
    gaza strip, west bank, golan, golan heights, kurdistan, darfur, crimea, caucasus, balkans,
    aleppo, damascus, homs, hama, idlib, raqqa, deir ez-zor, daraa, latakia, tartus, palmyra,
    ghouta, kobani, baghdad, mosul, basra, fallujah, ramadi, tikrit, kirkuk, erbil, najaf, karbala,
    anbar, riyadh, jeddah, mecca, makkah, medina, dammam, dubai, abu dhabi, doha, manama, muscat,
    sanaa, aden, taiz, hodeidah, marib, amman, zaatari, beirut, tripoli, benghazi, sirte, misrata,
    cairo, alexandria, tunis, algiers, rabat, casablanca, khartoum, tehran, ankara, istanbul,
    jerusalem, tel aviv, rafah, hebron, moscow, washington, london, paris, berlin, geneva, vienna,
    brussels, new york, beijing, kabul, islamabad, karachi, mogadishu, nouakchott""".split(",")  # noqa: SIM905
)
_ORG_WORDS = word_set("""
    ministry council party front army brigade brigades union organization organisation bank
    fund agency committee coalition movement forces force government parliament assembly court
    company corporation group association league state nations commission authority institute
    university office command guard guards brotherhood house hezbollah hamas nato opec houthis
    taliban qaeda isis isil daesh nusra""")
_TITLES = word_set("""
    president minister prime king queen prince princess crown sheikh emir sultan mr mrs ms dr
    general gen colonel col lieutenant lt major maj secretary spokesman spokeswoman ambassador
    envoy speaker chief deputy governor mayor senator judge imam ayatollah commander chairman
    director leader pope patriarch mufti marshal admiral captain capt vice former""")
_PARTICLES = word_set("al el bin ibn abu bou de da di del van von der le la of")
_LEADING = STOPWORDS | word_set(
    """tell show list give explain describe summarize summarise according please"""
)
_CALENDAR = CALENDAR
_TOKEN = re.compile(r"\d+(?:[,.]\d+)*|\w+(?:[-'’.]\w+)*")
_CONNECTOR = re.compile(
    r"^\s*(?P<weak>(?:(?:and|but|or|so|also|then|ok|okay)\b[\s,]*)*)"
    r"(?P<strong>(?:what|how)\s+about\b|what\s+of\b|same\s+(?:for|with|about)\b|as\s+for\b)?",
    re.IGNORECASE,
)
_PERSON_PRON = {"he": "", "him": "", "his": "'s", "she": "", "hers": "'s", "her": "?"}
_THING_PRON = {"it": "", "its": "'s"}
_PLURAL_PRON = {"they": "", "them": "", "their": "'s", "theirs": "'s"}
_EXPLETIVE = re.compile(
    r"\b(?:it\s+(?:is|was|'s)\s+(?:true|possible|likely|clear|known|said|reported)\b"
    r"|(?:is|was)\s+it\s+(?:true|possible|likely)\b|it\s+(?:take|took|takes)\b"
    r"|there\s+(?:is|are|was|were|been|be|will|has|have|had)\b"
    r"|(?:is|are|was|were|been|be)\s+there\b)",
    re.IGNORECASE,
)
_NOT_LOWER_PLACES = word_set("us gulf america")  # ordinary words when not capitalised
_PREPOSITIONS = word_set("in to from at into near inside across out")
_SENTENCE_END = re.compile(r"[.?!:\"“]\s*$")


def _kind(words: list[str], titled: bool) -> str:
    low = " ".join(w.lower().rstrip(".") for w in words)
    if low in _PLACES or low.removeprefix("the ") in _PLACES:
        return "place"
    if titled:
        return "person"
    if any(w.lower() in _ORG_WORDS for w in words):
        return "org"
    if (
        len(words) == 1
        and len(words[0].replace(".", "")) >= 2
        and words[0].replace(".", "").isupper()
    ):
        return "org"
    return "person" if len(words) > 1 else "name"


def _capital(tok: str) -> bool:
    return tok[:1].isupper() or bool(re.match(r"(?:al|el|as|ash|ad|az|an|ar)-[A-Z]", tok))


def entities(text: str) -> list[Entity]:
    """Names, acronyms and numbers in ``text``, in order, with their spans."""
    toks = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    found: list[Entity] = []
    i = 0
    while i < len(toks):
        tok, start, _ = toks[i]
        if tok[0].isdigit():
            found.append(Entity(tok, "number", start, toks[i][2]))
            i += 1
            continue
        if not _capital(tok):
            # Typed in lowercase, a known place is still a place: "what about iraq?"
            pair = f"{tok} {toks[i + 1][0]}".lower() if i + 1 < len(toks) else ""
            if pair in _PLACES and text[toks[i][2] : toks[i + 1][1]] == " ":
                found.append(Entity(text[start : toks[i + 1][2]], "place", start, toks[i + 1][2]))
                i += 2
                continue
            if tok.lower() in _PLACES and tok.lower() not in _NOT_LOWER_PLACES:
                found.append(Entity(tok, "place", start, toks[i][2]))
            i += 1
            continue
        run = [i]
        j = i + 1
        while j < len(toks) and not re.search(r"['’]s?$", toks[j - 1][0]):
            gap = text[toks[j - 1][2] : toks[j][1]]
            if not gap or not gap.isspace():
                break
            # Lowercase particles join a name only between capitals: "Bashar al Assad".
            particle = toks[j][0].lower() in _PARTICLES and j + 1 < len(toks)
            if not (_capital(toks[j][0]) or (particle and _capital(toks[j + 1][0]))):
                break
            run.append(j)
            j += 1
        i = j
        words = [toks[k][0] for k in run]
        words = [re.sub(r"['’]s?$", "", w) for w in words]
        while words and words[0].lower() in _LEADING:
            run, words = run[1:], words[1:]
        while words and (words[-1].lower() in _LEADING or words[-1].lower() in _PARTICLES):
            run, words = run[:-1], words[:-1]
        if not words or (len(words) == 1 and words[0].lower().rstrip(".") in _CALENDAR):
            continue
        if len(words) == 1 and DEMONYM.search(words[0]) and words[0].lower() not in _PLACES:
            continue  # "Which French minister ...": an adjective, not who "he" is
        titled = False
        title_at = max(
            (n for n, w in enumerate(words) if w.lower().rstrip(".") in _TITLES), default=-1
        )
        if 0 <= title_at < len(words) - 1:
            skip = title_at + 1
            if words[skip].lower() == "of" and skip + 2 < len(words):
                skip += 2  # "Minister of Energy Khalid Mansour"
            run, words, titled = run[skip:], words[skip:], True
        kind = _kind(words, titled or title_at >= 0)
        first = toks[run[0]][1]
        initial = first == 0 or bool(_SENTENCE_END.search(text[:first]))
        if initial and len(words) == 1 and kind == "name" and len(toks) > 3:
            continue  # "Refugees crossed ...": capitalised only because it starts a sentence
        end = toks[run[-1]][1] + len(words[-1])
        found.append(Entity(text[first:end], kind, first, end))
    return found


def _fits(pronoun: str, kind: str, local: bool = False) -> bool:
    if pronoun in _PERSON_PRON:
        return kind in ("person", "name")
    if pronoun in _THING_PRON:
        return kind in ("place", "org") if local else kind in ("place", "org", "name")
    if pronoun == "there":
        return kind == "place"
    return kind != "number"


def _pronouns(text: str, own: list[Entity]) -> list[tuple[str, int, int]]:
    """Pronouns that point outside the question: (word, start, end)."""
    idioms = [(m.start(), m.end()) for m in _EXPLETIVE.finditer(text)]
    out = []
    for m in re.finditer(r"\b(\w+)\b", text):
        word = m.group(1).lower()
        if word != "there" and not (
            word in _PERSON_PRON or word in _THING_PRON or word in _PLURAL_PRON
        ):
            continue
        if any(a <= m.start() and m.end() <= b for a, b in idioms):
            continue
        if any(e.end <= m.start() and _fits(word, e.kind, local=True) for e in own):
            continue
        out.append((word, m.start(), m.end()))
    return out


def _resolve(pronoun: str, prev: Sequence[list[Entity]]) -> Entity | None:
    for ents in prev:
        fitting = [e for e in ents if _fits(pronoun, e.kind)]
        if fitting:
            return fitting[-1] if pronoun == "there" else fitting[0]
    return None


def _by_mentions(ents: list[Entity], text: str) -> list[Entity]:
    """Names an answer mentions most come first: the subject outranks a passing mention."""

    def mentions(e: Entity) -> int:
        last = e.text.split()[-1]
        return len(re.findall(rf"(?<!\w){re.escape(last)}(?!\w)", text))

    return sorted(ents, key=lambda e: -mentions(e))


def _answer_body(text: str) -> str:
    return re.split(r"\*\*Sources\*\*|Closest passages:", text)[0]


def _substitute(question: str, prons: list[tuple[str, int, int]], prev: list[list[Entity]]):
    out, pos, used = [], 0, []
    for word, start, end in prons:
        ent = _resolve(word, prev)
        if ent is None:
            continue
        name = ent.text
        table = {**_PERSON_PRON, **_THING_PRON, **_PLURAL_PRON}
        suffix = table.get(word, "")
        if suffix == "?":  # "her": possessive before a content word ("her son"), else object
            nxt = re.match(r"\s+(\w+)", question[end:])
            suffix = "'s" if nxt and nxt.group(1).lower() not in STOPWORDS else ""
        if word == "there":
            before = re.search(r"(\w+)\s*$", question[:start])
            name = name if before and before.group(1).lower() in _PREPOSITIONS else f"in {name}"
        out.append(question[pos:start] + name + suffix)
        pos = end
        used.append((word, ent.text))
    out.append(question[pos:])
    return "".join(out), used


def _swap(prev_query: str, prev_ents: list[Entity], new: list[Entity]) -> tuple[str, list[str]]:
    """Put ``new`` names in place of the previous query's names of the same kind."""
    compatible = {"person": ("person", "name"), "name": ("name", "person")}
    edits: dict[str, str] = {}
    notes = []
    for kind in dict.fromkeys(e.kind for e in new):
        names = " and ".join(dict.fromkeys(e.text for e in new if e.kind == kind))
        pool = [e for e in prev_ents if e.text not in edits]
        same = [e for e in pool if e.kind in compatible.get(kind, (kind,))]
        if same:
            target = same[-1] if kind == "place" else same[0]
        elif pool:
            target = pool[-1] if kind == "place" else pool[0]
        else:
            continue
        edits[target.text] = names
        notes.append(f"'{names}' replaced '{target.text}'")
    query = prev_query
    for old, new_text in edits.items():
        query = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new_text, query)
    return query, notes


def _carry(window: DateWindow | None) -> DateWindow | None:
    return replace(window, origin="conversation") if window is not None else None


def _strip_end(text: str) -> str:
    return re.sub(r"[\s?.!]*$|\s+(?:too|as well|then)\s*[?.!]*$", "", text, flags=re.IGNORECASE)


def rewrite(question: str, history: Sequence[Turn]) -> Rewrite:
    """The standalone query and date window for ``question`` after ``history``."""
    cleaned, own_window = split_dates(question)
    standalone = cleaned if re.search(r"\w", cleaned) else question.strip()
    if own_window is not None and own_window.use == "hint":
        standalone = question.strip()  # a hint's date words stay in the query (Archive.search)
    if not history:
        return Rewrite(standalone, own_window, False, "no earlier turns")
    prev = history[-1]
    prev_query, _ = split_dates(prev.query_used or prev.question)
    if not re.search(r"\w", prev_query):
        prev_query = prev.query_used or prev.question
    prev_ents = entities(prev_query)
    sources = [prev_ents]
    if prev.question and prev.question != prev.query_used:
        sources.append(entities(split_dates(prev.question)[0]))
    sources.append(_by_mentions(entities(_answer_body(prev.answer_text)), prev.answer_text))

    def done(query: str, reason: str) -> Rewrite:
        window = own_window if own_window is not None else _carry(prev.window)
        if own_window is not None:
            reason += f"; dates {own_window.describe()} from this question"
        elif window is not None:
            reason += f"; carried dates {window.describe()}"
        query = tidy(query) or prev_query
        hint = window is not None and window.use == "hint" and window.phrase
        if hint and window.phrase.lower() not in query.lower():  # type: ignore[union-attr]
            query = f"{_strip_end(query)} {window.phrase}"
        return Rewrite(query, window, True, reason)

    conn = _CONNECTOR.match(cleaned)
    assert conn is not None
    rest = _strip_end(cleaned[conn.end() :]).strip(" ,")
    rest_ents = [e for e in entities(rest) if e.kind != "number" or conn.group("strong")]
    in_names = {t for e in rest_ents for t in content_terms(e.text)}
    extra = [t for t in content_terms(rest) if t not in in_names]
    own = entities(cleaned)
    prons = _pronouns(cleaned, own)
    short = len(_TOKEN.findall(rest)) <= 6
    # "what about his brother?" is a pronoun question; "what about Iraq?" an elliptical one.
    strong = conn.group("strong") and (rest_ents or not prons)
    if strong or (short and not extra and not prons):
        if rest_ents:
            query, notes = _swap(prev_query, prev_ents, rest_ents)
            if extra:
                query = f"{_strip_end(query)} {' '.join(extra)}"
            return done(query, "elliptical follow-up → " + ", ".join(notes or ["kept query"]))
        if extra:
            names = [e.text for e in prev_ents] or content_terms(prev_query)[:5]
            return done(f"{rest} {' '.join(names)}", f"elliptical follow-up → added {names}")
        if rest:  # "why?", "what happened next?": ask that of the previous query
            return done(
                f"{rest} {_lower_first(prev_query)}", "bare follow-up → asked of previous query"
            )
        why = "date-only follow-up" if own_window else "bare follow-up"
        return done(prev_query, f"{why} → reused previous query")

    if prons:
        query, used = _substitute(cleaned, prons, sources)
        if used:
            notes = ", ".join(f"'{w}' → carried '{n}'" for w, n in used)
            if not any(n in prev_query for _, n in used):
                # The name came from the answer, not the question: keep the question's topic too.
                have = set(content_terms(query))
                topic = [t for t in content_terms(prev_query) if t not in have]
                if topic:
                    query = f"{_strip_end(query)} {' '.join(topic)}"
                    notes += f" and topic {topic}"
            return done(query, f"pronoun {notes}")
    demonstrative = re.search(
        r"\b(?:this|that|these|those)\b(?=\s+[a-z]\w*|\s*[?.!]*$)", cleaned, re.IGNORECASE
    )
    has_names = any(e.kind != "number" for e in own)
    if not has_names and (prons or demonstrative or len(content_terms(cleaned)) <= 1):
        names = [e.text for e in prev_ents] or content_terms(prev_query)[:5]
        if names:
            query = f"{_strip_end(cleaned)} {' '.join(names)}"
            return done(query, f"short follow-up without names → added {names}")
    return Rewrite(standalone, own_window, False, "stands alone: no pronoun or ellipsis")


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first.lower() in STOPWORDS else text
