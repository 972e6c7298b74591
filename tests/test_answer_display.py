"""How answers read in a terminal: printed once, a no-answer message a person would write, sources
one per line with paths relative to the indexed folder, and the date window said to be a hint or
a filter. The ``ask`` command is run for real under a pseudo-terminal and through a pipe, on a
hash-embedded index (the subprocess swaps the model for the same ``HashEmbedder``)."""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import json
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from rich.console import Console
from rich.markdown import Markdown

from askarchive.answer.extractive import abstain, sources_block
from askarchive.answer.markdown import (
    NO_ANSWER,
    answer_parts,
    display_path,
    to_plain,
    window_words,
)
from askarchive.archive import Archive
from askarchive.cli import render
from askarchive.models import Answer, AnswerSentence, Citation, DateWindow, Passage
from askarchive.store.sqlite import Store
from tests.fakes import HashEmbedder
from tests.helpers import drain_pty
from tests.llm_server import FakeLLM

ROOT = Path(__file__).resolve().parent.parent
DIM = 64
ARTICLES = {
    "water.txt": (
        "Jordan signs Aqaba desalination deal",
        "2016-06-03",
        "Jordan signed a desalination agreement for the port city of Aqaba on Friday.\n\n"
        "The Aqaba desalination plant will cost 1.1 billion dollars, the water ministry said.",
    ),
    "oil.txt": (
        "Oil prices fall after OPEC meeting",
        "2015-12-05",
        "Brent crude fell four percent after the OPEC meeting in Vienna on Friday.\n\n"
        "Ministers failed to agree on a production ceiling, traders said.",
    ),
}
COST = "The Aqaba desalination plant will cost 1.1 billion dollars, the water ministry said."
COST_Q = "How much will the Aqaba desalination plant cost?"
OFF_TOPIC = "Who won the FIFA World Cup final?"

# Runs the real CLI with the bundled model swapped for the hash embedder the index was built with.
CLI = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})  # the command runs in the corpus folder: find ``tests``
import askarchive.archive as a
from tests.fakes import HashEmbedder
a.SentenceTransformerEmbedder = lambda model=None, **kw: HashEmbedder(dim={DIM})
from askarchive.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("display")
    folder = root / "archive"
    folder.mkdir()
    for name, (title, day, body) in ARTICLES.items():
        (folder / name).write_text(f"---\ntitle: {title}\ndate: {day}\n---\n{body}\n", "utf-8")
    with Archive.open(root / "index", embedder=HashEmbedder(dim=DIM)) as archive:
        archive.index([folder])
    return root


def cli_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASKARCHIVE_LLM", "NO_COLOR"))}
    env.update(XDG_CONFIG_HOME=str(tmp / "config"), COLUMNS="220", LINES="50", TERM="xterm")
    return env


def run_tty(corpus: Path, *args: str) -> tuple[str, str]:
    """Run ``askarchive`` with stdout on a pseudo-terminal; (screen text, stderr)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 220, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, *args, "--index", str(corpus / "index")],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=cli_env(corpus),
        cwd=corpus,
    )
    os.close(slave)
    out = drain_pty(master)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    screen = ANSI.sub("", out.decode()).replace("\r\n", "\n")
    return screen, err


def run_piped(corpus: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", CLI, *args, "--index", str(corpus / "index")],
        capture_output=True,
        text=True,
        env=cli_env(corpus),
        cwd=corpus,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def expected(corpus: Path, question: str) -> Answer:
    with Archive.open(corpus / "index", embedder=HashEmbedder(dim=DIM)) as archive:
        return archive.ask(question, llm=False)


# -- the ask command, for real -----------------------------------------------------------------
def test_ask_on_a_terminal_prints_the_answer_once(corpus: Path) -> None:
    answer = expected(corpus, COST_Q)
    assert not answer.abstained and any(s.text == COST for s in answer.sentences)
    screen, _ = run_tty(corpus, "ask", COST_Q, "--no-llm")
    assert squash(screen).count(COST) == 1, screen
    assert "**" not in screen
    lines = [line.strip() for line in screen.splitlines()]
    at = lines.index("Sources")
    cite = answer.citations[0]
    assert lines[at + 1] == (
        f"[1] {cite.title} ({cite.date}) — archive/{Path(cite.path).name}:{cite.start}-{cite.end}"
    )
    assert str(corpus) not in screen  # paths are relative to the indexed folder


def test_ask_piped_prints_plain_text_once(corpus: Path) -> None:
    proc = run_piped(corpus, "ask", COST_Q)
    assert proc.stdout.count(COST) == 1 and "**" not in proc.stdout
    lines = proc.stdout.splitlines()
    sources = lines[lines.index("Sources") + 1 :]
    answer = expected(corpus, COST_Q)
    assert len(sources) == len(answer.citations)
    for n, (line, cite) in enumerate(zip(sources, answer.citations, strict=True), 1):
        assert line.startswith(f"[{n}] {cite.title} ({cite.date}) — archive/")
        assert line.endswith(f"{Path(cite.path).name}:{cite.start}-{cite.end}")
    # The API keeps the absolute path.
    data = json.loads(run_piped(corpus, "ask", COST_Q, "--json").stdout)
    assert data["citations"][0]["path"] == answer.citations[0].path
    assert Path(answer.citations[0].path).is_absolute()


def test_abstention_on_a_terminal_is_a_sentence(corpus: Path) -> None:
    assert expected(corpus, OFF_TOPIC).abstained
    screen, _ = run_tty(corpus, "ask", OFF_TOPIC, "--no-llm")
    assert squash(screen).count(NO_ANSWER) == 1, screen
    assert "nothing on" not in screen and "won the FIFA" not in screen
    lines = [line.strip() for line in screen.splitlines() if line.strip()]
    at = lines.index("Closest passages:")
    closest = lines[at + 1 :]
    assert closest and all(
        re.match(r"- .+ \(\d{4}-\d\d-\d\d\) — archive/\w+\.txt:\d+-\d+$", c) for c in closest
    ), closest


def test_ask_shows_the_window_as_a_hint_or_a_filter(corpus: Path) -> None:
    hinted = run_piped(corpus, "ask", "What did Jordan sign in June 2016?")
    assert 'date window: 2016-06-01 to 2016-06-30 from "in June 2016", as a hint' in hinted.stderr
    filtered = run_piped(corpus, "ask", OFF_TOPIC, "--since", "2016-06-01", "--until", "2016-06-30")
    assert "as a filter" in filtered.stderr
    assert f"{NO_ANSWER} I searched only articles published in June 2016." in filtered.stdout, (
        filtered.stdout
    )


def test_search_shows_the_window_and_relative_paths(corpus: Path) -> None:
    proc = run_piped(corpus, "search", "Aqaba desalination in June 2016")
    first = proc.stdout.splitlines()[0]
    assert first.startswith("date window: 2016-06-01 to 2016-06-30") and "as a hint" in first
    assert "archive/water.txt:" in proc.stdout and str(corpus) not in proc.stdout


@pytest.fixture
def llm() -> FakeLLM:  # type: ignore[misc]
    fake = FakeLLM().start()
    yield fake
    fake.stop()


def test_streamed_llm_answer_is_printed_once_with_sources(corpus: Path, llm: FakeLLM) -> None:
    llm.reply = f"{COST} [1]"
    screen, _ = run_tty(corpus, "ask", COST_Q, "--llm", llm.url)
    assert squash(screen).count(COST) == 1, screen
    assert "**" not in screen
    lines = [line.strip() for line in screen.splitlines()]
    assert re.match(r"\[1\] .+ — archive/\w+\.txt:\d+-\d+$", lines[lines.index("Sources") + 1])


def test_llm_abstention_on_a_terminal_shows_the_sentence_not_the_token(
    corpus: Path, llm: FakeLLM
) -> None:
    llm.script = "abstain"
    screen, _ = run_tty(corpus, "ask", OFF_TOPIC, "--llm", llm.url)
    assert "NOT_IN_ARCHIVE" not in screen
    assert squash(screen).count(NO_ANSWER) == 1, screen


def test_llm_down_prints_the_extractive_answer_once(corpus: Path) -> None:
    screen, err = run_tty(corpus, "ask", COST_Q, "--llm", "http://127.0.0.1:9/v1")
    assert "LLM unavailable" in err
    assert squash(screen).count(COST) == 1, screen
    assert "**" not in screen


# -- the pieces --------------------------------------------------------------------------------
def cite(path: str, title: str = "Minister quits", start: int = 0, end: int = 40) -> Citation:
    return Citation("a1", title, dt.date(2016, 6, 18), path, None, start, end)


def test_abstention_wording() -> None:
    p = Passage("Some text.", 0.1, "a1", 1, cite("/data/news/archive/m.txt"))
    window = DateWindow(dt.date(2014, 1, 1), dt.date(2014, 12, 31), "query", "in 2014", "hint")
    a = abstain("Who won the FIFA World Cup final in 2014?", [p], window=window)
    assert a.abstained and a.related == [p] and a.citations == []
    first, rest = a.text.split("\n\n", 1)
    assert first == f"{NO_ANSWER} I searched all dates, ranking articles published in 2014 first."
    assert "won the" not in a.text and "nothing on" not in a.text
    assert rest == (
        "Closest passages:\n\n- Minister quits (2016-06-18) — /data/news/archive/m.txt:0-40"
    )
    assert abstain("Why?", []).text == NO_ANSWER


def test_window_in_words() -> None:
    def words(since: str | None, until: str | None) -> str | None:
        lo = dt.date.fromisoformat(since) if since else None
        hi = dt.date.fromisoformat(until) if until else None
        return window_words(DateWindow(lo, hi))

    assert words("2016-06-01", "2016-06-30") == "in June 2016"
    assert words("2016-01-01", "2016-12-31") == "in 2016"
    assert words("2012-01-01", "2014-12-31") == "from 2012 to 2014"
    assert words("2016-06-01", "2016-08-31") == "from June to August 2016"
    assert words("2016-11-01", "2017-02-28") == "from November 2016 to February 2017"
    assert words("1987-03-30", "1987-03-30") == "on 30 March 1987"
    assert words("1987-03-01", "1987-03-10") == "from 1 March 1987 to 10 March 1987"
    assert words("2016-06-01", None) == "on or after 1 June 2016"
    assert words(None, "2016-06-30") == "on or before 30 June 2016"
    assert window_words(None) is None


def test_sources_render_one_per_line_in_markdown() -> None:
    cites = [cite("/x/archive/a.txt", "First"), cite("/x/archive/b.txt", "Second")]
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(Markdown(sources_block(cites)))
    shown = [line.strip() for line in console.export_text().splitlines() if line.strip()]
    assert shown[0] == "Sources"
    assert shown[1].endswith("[1] First (2016-06-18) — /x/archive/a.txt:0-40")
    assert shown[2].endswith("[2] Second (2016-06-18) — /x/archive/b.txt:0-40")


def test_paths_are_shown_relative_to_the_indexed_folder() -> None:
    roots = [Path("/data/news/archive"), Path("/data/one.jsonl")]
    assert display_path("/data/news/archive/2016/m.txt", roots) == "archive/2016/m.txt"
    assert display_path("/data/one.jsonl", roots) == "one.jsonl"
    assert display_path("/data/news/archived/m.txt", roots) == "/data/news/archived/m.txt"
    assert display_path("/elsewhere/m.txt", roots) == "/elsewhere/m.txt"
    # The outermost indexed folder names the path when folders nest.
    assert display_path("/data/news/archive/m.txt", [*roots, Path("/data/news")]) == (
        "news/archive/m.txt"
    )


def test_index_records_its_folders(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "x.txt").write_text("Title\n\nOil prices fell on Monday.\n", "utf-8")
    with Archive.open(tmp_path / "idx", embedder=HashEmbedder()) as archive:
        archive.index([a])
        archive.index([a, b])
    store = Store.open(tmp_path / "idx", create=False)
    assert store is not None
    try:
        assert store.roots() == [a.resolve(), b.resolve()]
    finally:
        store.close()


def test_plain_text_keeps_lines_and_drops_markup() -> None:
    md = "A **bold** claim [1].\nA second line.\n\n\\# not a heading [2]\n\n- one\n- two"
    assert (
        to_plain(md) == "A bold claim [1].\nA second line.\n\n# not a heading [2]\n\n- one\n- two"
    )


def make_answer(window: DateWindow | None) -> Answer:
    c = cite("/data/archive/m.txt", "Haddadin [bold]resigns[/bold]", 10, 52)
    text = "Haddadin resigned *on* Tuesday [bold]x[/bold]. [1]"
    return Answer(
        text=text + "\n\n" + sources_block([c]),
        sentences=[AnswerSentence("Haddadin resigned *on* Tuesday [bold]x[/bold].", 1, 10, 52)],
        citations=[c],
        abstained=False,
        query_used="q",
        window=window,
    )


@pytest.mark.parametrize("terminal", [True, False])
def test_render_answer_once_with_sources_and_window(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    out = Console(file=io.StringIO(), width=200, record=True, force_terminal=terminal)
    err = Console(file=io.StringIO(), width=200, record=True)
    monkeypatch.setattr(render, "out", out)
    monkeypatch.setattr(render, "err", err)
    window = DateWindow(dt.date(2016, 6, 1), dt.date(2016, 6, 30), "query", "in June 2016", "hint")
    a = make_answer(window)
    render.answer(a, roots=[Path("/data/archive")])
    text = out.export_text()
    assert text.count("Haddadin resigned") == 1 and "**" not in text
    assert "[bold]x[/bold]" in text  # Rich markup in article text is printed literally
    lines = [line.rstrip() for line in text.splitlines()]
    at = lines.index("Sources")
    assert lines[at + 1] == "[1] Haddadin [bold]resigns[/bold] (2016-06-18) — archive/m.txt:10-52"
    meta = err.export_text()
    assert "as a hint" in meta and "2016-06-01 to 2016-06-30" in meta
    # The JSON/API form keeps the absolute path.
    assert a.to_dict()["citations"][0]["path"] == "/data/archive/m.txt"
    assert answer_parts(a).lines == [
        "[1] Haddadin [bold]resigns[/bold] (2016-06-18) — /data/archive/m.txt:10-52"
    ]


def test_search_view_says_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    out = Console(file=io.StringIO(), width=200, record=True)
    monkeypatch.setattr(render, "out", out)
    window = DateWindow(dt.date(2015, 1, 1), dt.date(2015, 12, 31), "explicit")
    p = Passage("Oil fell.", 0.5, "a1", 1, cite("/d/archive/o.txt"), window=window)
    render.passages("oil", [p], roots=[Path("/d/archive")])
    text = out.export_text()
    assert text.splitlines()[0].startswith("date window: 2015-01-01 to 2015-12-31")
    assert "as a filter" in text.splitlines()[0]
    assert "archive/o.txt:0-40" in text and "/d/archive" not in text
