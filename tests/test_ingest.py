"""Ingestion: discovery, every input format, bad inputs, ids and date rules. No model needed."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from askarchive.errors import BadInput
from askarchive.ingest import (
    MAX_ARTICLE_BYTES,
    SUPPORTED_SUFFIXES,
    ParseResult,
    article_id,
    discover,
    parse_file,
    roots,
)
from askarchive.ingest.dates import caption_date, dateline_date, parse_date_value

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "archive"

PAGE = """Middle-east Arab News Opinion | Asharq Al-awsat

Ferry Service Resumes Between Aqaba and Nuweiba | ASHARQ AL-AWSAT English Archive 2005 -2017
Select Page
Media ID: 55000123
Caption:

Passengers board a ferry at the port of Aqaba, Jordan, Tuesday, June 14, 2016. AP


Aqaba- A ferry service between Aqaba and Nuweiba resumed on Tuesday after a two-month halt.{trail}



The operator said 1,400 passengers crossed on the first day.
Officials expect demand to rise before the holidays.

A port official, Karim Saleh, said on June 18, 2016 the schedule would double.
""".format(trail="   \t")


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def only(result: ParseResult):
    assert result.skipped == [] and result.warnings == []
    assert len(result.articles) == 1
    return result.articles[0]


def page(title_line: str, caption_block: str, body: str) -> str:
    return (
        "Middle-east Arab News Opinion | Asharq Al-awsat\n\n"
        f"{title_line}\nSelect Page\nMedia ID: 1\n{caption_block}\n\n\n{body}\n"
    )


# --- page format ---------------------------------------------------------------------------


def test_page_format(tmp_path: Path) -> None:
    path = write(tmp_path / "000_0123456789abcdef.txt", PAGE)
    art = only(parse_file(path))
    assert art.title == "Ferry Service Resumes Between Aqaba and Nuweiba"
    assert art.body == (
        "Aqaba- A ferry service between Aqaba and Nuweiba resumed on Tuesday after a two-month "
        "halt.\n\nThe operator said 1,400 passengers crossed on the first day.\n"
        "Officials expect demand to rise before the holidays.\n\n"
        "A port official, Karim Saleh, said on June 18, 2016 the schedule would double."
    )
    assert art.metadata["media_id"] == "55000123"
    assert art.metadata["caption"].startswith("Passengers board a ferry")
    assert "Passengers board" not in art.body
    assert "Select Page" not in art.body and "Asharq" not in art.body
    # The caption dates the page; the date mentioned later in the body is ignored.
    assert art.date == dt.date(2016, 6, 14)
    assert art.date_source == "inferred"
    assert art.path == str(path.resolve())
    assert art.id == article_id(str(path.resolve()), "")
    assert art.source_id is None


@pytest.mark.parametrize(
    "title_line",
    [
        "Ferry News | ASHARQ AL-AWSAT English Archive 2005 -2017",
        "Ferry News | Asharq Al-Awsat English Archive 2005-2017",
        "Ferry News|asharq al-awsat english archive  2005 - 2017  ",
        "Ferry News | ASHARQ AL-AWSAT English Archive",
    ],
)
def test_page_title_suffix_variants(tmp_path: Path, title_line: str) -> None:
    text = page(title_line, "Caption:\n\nA photo. Reuters", "Body text here.")
    art = only(parse_file(write(tmp_path / "p.txt", text)))
    assert art.title == "Ferry News"
    assert art.body == "Body text here."
    assert art.metadata["caption"] == "A photo. Reuters"


def test_page_caption_on_its_line_and_multiline(tmp_path: Path) -> None:
    caption = "Caption: Workers at the port of Aqaba,\nJordan, 3 March 2012. AFP"
    art = only(
        parse_file(
            write(tmp_path / "p.txt", page("T | ASHARQ AL-AWSAT English Archive", caption, "Body."))
        )
    )
    assert art.metadata["caption"] == "Workers at the port of Aqaba, Jordan, 3 March 2012. AFP"
    assert art.body == "Body."
    assert art.date == dt.date(2012, 3, 3)


def test_page_trailing_boilerplate_dropped(tmp_path: Path) -> None:
    body = (
        "First paragraph of the story.\n\nLast real paragraph.\n\nShare this:\nTwitter\n"
        "Facebook\n\nRelated\nAnother headline about ferries\n\n"
        "© 2017 Asharq Al-Awsat. All rights reserved."
    )
    art = only(
        parse_file(
            write(
                tmp_path / "p.txt",
                page("T | ASHARQ AL-AWSAT English Archive", "Caption:\n\nC.", body),
            )
        )
    )
    assert art.body == "First paragraph of the story.\n\nLast real paragraph."
    kept = "Story.\n\nCopyright law reform will be debated next month.\n\nRead more\n"
    text = page("T | ASHARQ AL-AWSAT English Archive", "Caption:\n\nC.", kept)
    art = only(parse_file(write(tmp_path / "q.txt", text)))
    assert art.body == "Story.\n\nCopyright law reform will be debated next month."


def test_page_without_dated_caption_is_undated(tmp_path: Path) -> None:
    text = page(
        "T | ASHARQ AL-AWSAT English Archive",
        "Caption:\n\nAn illustrative photo. Getty Images",
        "Officials met on June 18, 2016 in Amman to discuss the plan.",
    )
    art = only(parse_file(write(tmp_path / "p.txt", text)))
    assert art.date is None and art.date_source is None


def test_page_file_photo_caption_not_used_but_dateline_is(tmp_path: Path) -> None:
    caption = "Caption:\n\nFile photo: the old port of Aqaba, Jordan, March 5, 2011. AP"
    body = "Amman, 9 October 2017 – Jordan opened a new terminal on Monday."
    art = only(
        parse_file(
            write(tmp_path / "p.txt", page("T | ASHARQ AL-AWSAT English Archive", caption, body))
        )
    )
    assert art.date == dt.date(2017, 10, 9)
    assert art.date_source == "inferred"
    no_dateline = page("T | ASHARQ AL-AWSAT English Archive", caption, "Jordan opened a terminal.")
    assert only(parse_file(write(tmp_path / "q.txt", no_dateline))).date is None


# --- plain text and markdown ---------------------------------------------------------------


def test_plain_txt(tmp_path: Path) -> None:
    path = write(tmp_path / "note.txt", "\n\n  Port Reopens  \nFirst line.\n\n\n\nSecond.  \n")
    art = only(parse_file(path))
    assert art.title == "Port Reopens"
    assert art.body == "First line.\n\nSecond."
    assert art.date is None and art.metadata == {}


def test_markdown_heading_and_dateline(tmp_path: Path) -> None:
    text = "# Turtles Tagged in Oman\n\nMuscat, 14 April 2013 – Rangers tagged 30 turtles.\n"
    art = only(parse_file(write(tmp_path / "t.md", text)))
    assert art.title == "Turtles Tagged in Oman"
    assert art.body.startswith("Muscat, 14 April 2013")
    assert (art.date, art.date_source) == (dt.date(2013, 4, 14), "inferred")


def test_markdown_setext_heading(tmp_path: Path) -> None:
    art = only(parse_file(write(tmp_path / "t.md", "Big News\n========\n\nBody here.\n")))
    assert (art.title, art.body) == ("Big News", "Body here.")


def test_markdown_front_matter_wins_over_dateline(tmp_path: Path) -> None:
    text = (
        '---\ntitle: "Front Title"\ndate: 2012-01-05\nurl: https://example.org/a\n'
        "section: Economy\n---\n\n# Front Title\n\nLondon, 3 March 2012 - Body text.\n"
    )
    art = only(parse_file(write(tmp_path / "f.md", text)))
    assert art.title == "Front Title"
    assert art.body == "London, 3 March 2012 - Body text."
    assert (art.date, art.date_source) == (dt.date(2012, 1, 5), "metadata")
    assert art.url == "https://example.org/a"
    assert art.metadata == {"section": "Economy"}


def test_front_matter_bad_date_does_not_crash(tmp_path: Path) -> None:
    art = only(
        parse_file(write(tmp_path / "f.md", "---\ndate: sometime soon\n---\n# T\n\nBody.\n"))
    )
    assert art.date is None and art.title == "T"


# --- HTML ----------------------------------------------------------------------------------

HTML = """<!DOCTYPE html><html><head><title>Harbour Expands | Site</title>
<meta property="og:title" content="Harbour Expands">{meta}</head>
<body><nav><a href="/">Home</a> | <a href="/news">News</a></nav>
<article><h1>Harbour Expands</h1>
<p>{first}</p>
<p>The harbour will add four cranes and 400 meters of quay, officials said on Monday.</p>
<p>Traffic rose 9 percent in the first half, and revenue reached $110 million in June 2016.</p>
</article><footer><p>Copyright example footer text</p></footer></body></html>"""


def test_html_metadata_date_and_main_text(tmp_path: Path) -> None:
    meta = '<meta property="article:published_time" content="2016-07-05T09:30:00+03:00">'
    text = HTML.format(meta=meta, first="Beirut- The port authority announced an expansion.")
    art = only(parse_file(write(tmp_path / "a.html", text)))
    assert art.title == "Harbour Expands"
    assert art.body.startswith("Beirut- The port authority announced an expansion.")
    assert "\n\nThe harbour will add four cranes" in art.body
    assert "Home" not in art.body and "Copyright" not in art.body
    assert (art.date, art.date_source) == (dt.date(2016, 7, 5), "metadata")


def test_html_without_date_metadata(tmp_path: Path) -> None:
    text = HTML.format(meta="", first="Beirut- The port authority announced an expansion.")
    assert only(parse_file(write(tmp_path / "a.htm", text))).date is None
    dated = HTML.format(meta="", first="Beirut, June 18, 2016 - The port authority said so.")
    art = only(parse_file(write(tmp_path / "b.html", dated)))
    assert (art.date, art.date_source) == (dt.date(2016, 6, 18), "inferred")


# --- records -------------------------------------------------------------------------------


def test_jsonl_records(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "id": 7,
                "Headline": "One",
                "TEXT": "Body one.",
                "Published_At": "2016-06-12",
                "Link": "https://e.org/1",
                "section": "Economy",
                "tags": ["a", "b"],
                "n": 3,
            }
        ),
        "{not json",
        json.dumps({"title": "No body", "body": "   "}),
        "",
        json.dumps({"title": "Two", "content": "Body two.\n\n\nMore."}),
        json.dumps({"id": 7, "title": "Dup", "article": "Body dup.", "date": "soon"}),
    ]
    path = write(tmp_path / "w.jsonl", "\n".join(lines) + "\n")
    result = parse_file(path)
    assert result.warnings == []
    assert [(s.path, s.reason.split(":")[0]) for s in result.skipped] == [
        (f"{path}:2", "malformed JSON"),
        (f"{path}:3", "no body text (expected a field named body, text, content or article)"),
    ]
    one, two, dup = result.articles
    assert (one.title, one.body, one.source_id, one.url) == (
        "One",
        "Body one.",
        "7",
        "https://e.org/1",
    )
    assert (one.date, one.date_source) == (dt.date(2016, 6, 12), "metadata")
    assert one.metadata == {"section": "Economy", "tags": "a, b", "n": "3", "record": "7"}
    assert one.path == str(path)
    assert two.metadata["record"] == "line5" and two.source_id is None
    assert two.body == "Body two.\n\nMore."
    assert dup.source_id == "7" and dup.metadata["record"] == "7@line6"
    assert dup.date is None
    assert len({one.id, two.id, dup.id}) == 3
    assert one.id == article_id(str(path), "7")


def test_json_single_object_and_list(tmp_path: Path) -> None:
    single = write(
        tmp_path / "one.json",
        json.dumps({"title": "Solo", "body": "Text.", "date": "18 June 2016"}),
    )
    art = only(parse_file(single))
    assert (art.title, art.date, art.id) == (
        "Solo",
        dt.date(2016, 6, 18),
        article_id(str(single), ""),
    )
    many = write(
        tmp_path / "many.json", json.dumps([{"title": "A", "text": "a."}, {"title": "B"}, 5])
    )
    result = parse_file(many)
    assert [a.title for a in result.articles] == ["A"]
    assert [s.path for s in result.skipped] == [f"{many}:item2", f"{many}:item3"]
    bad = parse_file(write(tmp_path / "bad.json", "[{"))
    assert bad.articles == [] and bad.skipped[0].reason.startswith("malformed JSON")


def test_csv_records(tmp_path: Path) -> None:
    text = (
        "ID,Title,Date,URL,Body\n"
        "501,Coffee Union,15 June 2008,https://e.org/501,"
        '"Sanaa- Farmers met.\n\nThey agreed, finally."\n'
        "502,Empty Row,2012-07-30,https://e.org/502,\n"
        "503,Coins Found,03/04/2012,,Amman- A jar of coins was found.\n"
    )
    path = write(tmp_path / "b.csv", text)
    result = parse_file(path)
    assert [(s.path, s.reason[:12]) for s in result.skipped] == [(f"{path}:5", "no body text")]
    first, second = result.articles
    assert first.body == "Sanaa- Farmers met.\n\nThey agreed, finally."
    assert (first.source_id, first.date, first.url) == (
        "501",
        dt.date(2008, 6, 15),
        "https://e.org/501",
    )
    assert second.date is None  # 03/04/2012 is ambiguous
    assert second.url is None


def test_csv_semicolons(tmp_path: Path) -> None:
    art = only(parse_file(write(tmp_path / "s.csv", "title;body\nHello;World text.\n")))
    assert (art.title, art.body, art.metadata["record"]) == ("Hello", "World text.", "row1")


def test_big_jsonl_is_streamed(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    filler = {"blob": "x" * 10_000}  # a nested object: not kept in metadata
    with path.open("w", encoding="utf-8") as handle:
        for n in range(700):
            handle.write(
                json.dumps({"id": n, "title": f"T{n}", "body": f"Body {n}.", "extra": filler})
            )
            handle.write("\n")
    size = path.stat().st_size
    assert size > MAX_ARTICLE_BYTES
    tracemalloc.start()
    try:
        result = parse_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.articles) == 700 and result.skipped == []
    assert peak < size / 3, f"peak {peak} bytes for a {size}-byte file: not streamed"


# --- bad inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("bin.txt", b"PK\x03\x04\x00\x00binary", "binary file, not text"),
        ("bin.jsonl", b'{"a": 1}\x00\n', "binary file, not text"),
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"  \n\n\t \n", "empty file"),
        ("blank.jsonl", b"\n\n", "empty file"),
        ("blank.csv", b"", "empty file"),
        ("blank.html", b"   ", "empty file"),
    ],
)
def test_bad_content_is_skipped(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    result = parse_file(write(tmp_path / name, content))
    assert result.articles == []
    assert [s.reason for s in result.skipped] == [reason]


def test_unreadable_is_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    result = parse_file(folder)
    assert result.articles == [] and result.skipped[0].reason.startswith("cannot read: ")
    missing = parse_file(tmp_path / "gone.jsonl")
    assert missing.skipped[0].reason.startswith("cannot read: ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_permission_denied_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.txt", "Title\nBody.")
    path.chmod(0)
    try:
        assert parse_file(path).skipped[0].reason == "cannot read: Permission denied"
    finally:
        path.chmod(0o644)


def test_oversized_single_article_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "huge.txt", "Title\n" + "word " * (MAX_ARTICLE_BYTES // 5 + 10))
    result = parse_file(path)
    assert result.articles == []
    reason = result.skipped[0].reason
    assert "5.0 MB limit" in reason and "split" in reason


def test_invalid_utf8_is_indexed_with_warning(tmp_path: Path) -> None:
    result = parse_file(
        write(tmp_path / "latin.txt", "Caf\xe9 News\nA caf\xe9 opened.".encode("latin-1"))
    )
    assert result.skipped == []
    assert result.articles[0].title == "Caf\ufffd News"
    assert [w.reason for w in result.warnings] == [
        "invalid UTF-8: decoded with replacement characters"
    ]
    lines = b'{"title": "Ok", "body": "fine"}\n{"title": "Bad \xff", "body": "text"}\n'
    records = parse_file(write(tmp_path / "r.jsonl", lines))
    assert len(records.articles) == 2 and records.skipped == []
    assert records.warnings[0].reason.startswith(
        "invalid UTF-8: decoded with replacement characters"
    )


def test_unsupported_suffix_via_parse_file(tmp_path: Path) -> None:
    result = parse_file(write(tmp_path / "x.pdf", b"%PDF"))
    assert result.articles == [] and "unsupported file type '.pdf'" in result.skipped[0].reason


# --- ids and discovery ---------------------------------------------------------------------


def test_ids_are_stable(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", "T\nBody.")
    b = write(tmp_path / "b.txt", "T\nBody.")
    first, again = only(parse_file(a)), only(parse_file(a))
    assert first.id == again.id and len(first.id) == 16
    assert only(parse_file(b)).id != first.id
    write(a, "Other title\nOther body.")  # content changes; identity does not
    assert only(parse_file(a)).id == first.id


def test_discover(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "T\nx")
    write(tmp_path / "a.md", "T\nx")
    write(tmp_path / "sub" / "c.jsonl", '{"body": "x"}')
    write(tmp_path / "sub" / "d.xyz", "?")
    write(tmp_path / "sub" / "noext", "?")
    write(tmp_path / ".hidden.txt", "T\nx")
    write(tmp_path / ".git" / "e.txt", "T\nx")
    write(tmp_path / "README.md", "docs")
    files, skipped = discover([tmp_path, tmp_path / "b.txt"])
    base = tmp_path.resolve()
    assert files == [base / "a.md", base / "b.txt", base / "sub" / "c.jsonl"]
    assert all(f.is_absolute() for f in files)
    assert [s.path for s in skipped] == [str(base / "sub" / "d.xyz"), str(base / "sub" / "noext")]
    assert skipped[0].reason.startswith("unsupported file type '.xyz' (supported: .txt .md")
    assert "(no extension)" in skipped[1].reason
    # A README or hidden file named explicitly is indexed.
    assert discover([tmp_path / "README.md"])[0] == [base / "README.md"]


def test_discover_missing_path(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file or folder: .*nope — check the path"):
        discover([tmp_path / "nope"])
    with pytest.raises(BadInput):
        roots([""])


def test_supported_suffixes() -> None:
    assert {".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".csv"} <= set(SUPPORTED_SUFFIXES)


# --- date rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        (
            "Assad meets Shoigu in Damascus, Syria, Saturday, June 18, 2016. AP",
            dt.date(2016, 6, 18),
        ),
        ("Delegates in London, 3 March 2012. Reuters", dt.date(2012, 3, 3)),
        ("Crowds on Feb. 19, 2014 in Sochi. AP", dt.date(2014, 2, 19)),
        ("Crowds in Tunis, 18/06/2016. AFP", dt.date(2016, 6, 18)),
        ("Crowds in Tunis, 2016-06-18. AFP", dt.date(2016, 6, 18)),
        ("Crowds in Tunis, 03/04/2012. AFP", None),
        ("Crowds in Tunis in June 2016. AFP", None),
        ("Crowds in Tunis, June 18, 1850. AFP", None),
        ("Crowds in Tunis, February 30, 2016. AFP", None),
        ("File photo of crowds in Tunis, June 18, 2016. AFP", None),
    ],
)
def test_caption_dates(caption: str, expected: dt.date | None) -> None:
    assert caption_date(caption) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("CAIRO, June 18, 2016 (AP) - Egypt said", dt.date(2016, 6, 18)),
        ("London, 3 March 2012 - More than 300", dt.date(2012, 3, 3)),
        ("Beirut, Lebanon, Sunday, 7 November 2010 – Runners", dt.date(2010, 11, 7)),
        ("Moscow-Russian Minister of Defense visited", None),
        ("The minister said on June 18, 2016 - quietly - that", None),
        ("A long first sentence without any date. " * 3 + "Cairo, June 18, 2016 - x", None),
    ],
)
def test_dateline_dates(body: str, expected: dt.date | None) -> None:
    assert dateline_date(body) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2016-06-18", dt.date(2016, 6, 18)),
        ("2016-06-18T23:30:00-05:00", dt.date(2016, 6, 18)),
        ("Sat, 18 Jun 2016 10:00:00 GMT", dt.date(2016, 6, 18)),
        (1466208000, dt.date(2016, 6, 18)),
        ("June 2016", None),
        ("2016", None),
        ("03/04/2012", None),
        ("not a date", None),
        ("1850-01-01", None),
        (None, None),
    ],
)
def test_metadata_date_values(value: object, expected: dt.date | None) -> None:
    assert parse_date_value(value) == expected


# --- the bundled sample archive ------------------------------------------------------------


def test_sample_archive_parses_cleanly() -> None:
    files, skipped = discover([SAMPLE])
    assert skipped == []
    articles = []
    for path in files:
        result = parse_file(path)
        assert result.skipped == [] and result.warnings == [], path
        articles.extend(result.articles)
    assert len(articles) >= 36
    assert sum(a.date is not None for a in articles) >= 28
    assert len({a.id for a in articles}) == len(articles)
    pages = [a for a in articles if "media_id" in a.metadata]
    assert len(pages) >= 28
    assert sum(1 for a in pages if a.date_source == "inferred") >= 26
    suffixes = [Path(a.path).suffix for a in articles]
    for suffix, least in ((".md", 2), (".html", 2), (".jsonl", 3), (".csv", 2)):
        assert suffixes.count(suffix) >= least, suffix
    assert sum(1 for a in articles if a.date and (a.date.year, a.date.month) == (2016, 6)) >= 5
    for art in articles:
        assert art.title and 150 <= len(art.body.split()) <= 350, art.path
    assert "fictional" in (SAMPLE / "README.md").read_text(encoding="utf-8").lower()


def test_page_parsing_is_fast() -> None:
    pages = sorted(SAMPLE.glob("*.txt"))
    start = time.perf_counter()
    for _ in range(5):
        for path in pages:
            parse_file(path)
    per_article = (time.perf_counter() - start) / (5 * len(pages))
    assert per_article < 0.005, f"{per_article * 1000:.2f} ms per page"


def test_import_is_light() -> None:
    code = (
        "import sys, askarchive.ingest; "
        "print(sorted(m for m in ('trafilatura', 'dateutil', 'lxml', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_page_with_empty_caption(tmp_path: Path) -> None:
    text = page(
        "T | ASHARQ AL-AWSAT English Archive", "Caption:\n\n\n", "First para.\n\nSecond para."
    )
    art = only(parse_file(write(tmp_path / "p.txt", text)))
    assert art.body == "First para.\n\nSecond para."
    assert "caption" not in art.metadata


def test_discover_names_symlink_loops_and_dangling_links(tmp_path: Path) -> None:
    a = tmp_path.resolve() / "a"
    write(a / "x.txt", "T\nBody.")
    write(tmp_path / "b" / "y.txt", "T\nBody.")
    os.symlink(a, a / "loop", target_is_directory=True)  # back to its own folder
    os.symlink("self", a / "self")  # a link to itself
    os.symlink("ping", a / "pong")  # two links to each other
    os.symlink("pong", a / "ping")
    os.symlink(tmp_path / "nowhere.txt", a / "dangling.txt")
    os.symlink(tmp_path / "b", a / "also_b", target_is_directory=True)  # a second way in: fine
    os.symlink(a / "x.txt", a / "x_again.txt")  # the same file twice: fine
    files, skipped = discover([tmp_path])
    assert sorted(files) == [a / "x.txt", tmp_path.resolve() / "b" / "y.txt"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == {"loop", "self", "ping", "pong", "dangling.txt"}
    assert reasons["loop"] == f"symlink loop: points back to the folder {a}"
    assert reasons["self"] == "symlink loop: self leads back to itself"
    assert reasons["ping"].startswith("symlink loop") and reasons["pong"].startswith("symlink")
    assert reasons["dangling.txt"] == (
        f"dangling symlink: its target {tmp_path / 'nowhere.txt'} does not exist"
    )
    assert all(Path(s.path).parent == a for s in skipped)


def test_discover_names_special_files(tmp_path: Path) -> None:
    write(tmp_path / "x.txt", "T\nBody.")
    os.mkfifo(tmp_path / "pipe.txt")
    files, skipped = discover([tmp_path])
    assert files == [(tmp_path / "x.txt").resolve()]
    assert [(Path(s.path).name, s.reason) for s in skipped] == [
        ("pipe.txt", "not a regular file (a FIFO, socket or device)")
    ]


def test_html_fallback_extractor() -> None:
    from askarchive.ingest.html import _fallback

    parts = _fallback(
        "<html><head><title> Short  Page </title><script>var x = 1;</script></head><body>"
        "<nav>Home</nav><p>First &amp; only.</p><div>Second<br>line</div><footer>(c)</footer>"
        "</body></html>"
    )
    assert parts.title == "Short Page"
    assert parts.body == "First & only.\n\nSecond\n\nline"
