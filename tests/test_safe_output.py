"""Article text never drives the terminal (issue 12, point 1).

A hostile article, whose title, body and file name hold escape sequences (clear screen, set the
window title, blink, an 8-bit CSI, a bell), is indexed with the hash embedder and printed through
every way out: the CLI's ``index``, ``search``, ``ask`` (extractive and a streamed LLM reply) and
``stats`` on a pseudo-terminal and through a pipe, their ``--json`` forms, an error line, and the
chat's answer view, sources panel, reader, sessions screen, notifications and export. No ESC, BEL
or CSI from the article may reach the output; each is shown as ``\\x1b``, ``\\x07``, ``\\x9b``.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from askarchive.archive import Archive
from askarchive.safe import json_text, visible
from askarchive.tui.app import AskArchiveApp
from askarchive.tui.screens.history import SessionsScreen
from askarchive.tui.screens.reader import Paragraph, ReaderScreen
from askarchive.tui.widgets.answer import TurnView
from askarchive.tui.widgets.sources import SourceItem, SourcesPanel
from tests.fakes import HashEmbedder
from tests.helpers import drain_pty, isolate_user_dirs
from tests.llm_server import FakeLLM
from tests.test_answer_display import CLI, DIM, cli_env
from tests.test_tui import backend_for, make_app, screen_text, settle

CLEAR, TITLE, BLINK, CSI, BEL = "\x1b[2J", "\x1b]0;owned\x07", "\x1b[5m", "\x9b31m", "\x07"
HOSTILE_TITLE = f"Aqaba {CLEAR}desalination{TITLE} deal {BLINK}signed{CSI} now{BEL}"
HOSTILE_BODY = (
    f"Jordan signed a desalination agreement {CLEAR}for the port city of Aqaba on Friday.\n\n"
    f"The Aqaba desalination plant {TITLE} will cost 1.1 billion dollars {BLINK}, the water "
    f"ministry said {CSI} on Friday {BEL} in Amman."
)
HOSTILE_NAME = f"water{CLEAR}{CSI}.txt"
QUESTION = "How much will the Aqaba desalination plant cost?"
# What the article's controls look like once made visible.
SHOWN = ["\\x1b[2J", "\\x1b]0;owned\\x07", "\\x1b[5m", "\\x9b31m"]
RAW = [CLEAR, "\x1b]0;", BLINK, "\x9b", BEL]


def write_hostile_archive(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / HOSTILE_NAME).write_text(f"{HOSTILE_TITLE}\n\n{HOSTILE_BODY}\n", "utf-8")
    (folder / "oil.txt").write_text(
        "Oil prices fall after OPEC meeting\n\nBrent crude fell four percent in Vienna.\n", "utf-8"
    )
    # Files that are skipped (empty, binary) or warned about (bad UTF-8): the report names them.
    (folder / f"empty{TITLE}.txt").write_bytes(b"")
    (folder / f"binary{BLINK}.txt").write_bytes(b"\x00\x01\x02\x1b[2J" * 64)
    (folder / f"latin{CSI}.txt").write_bytes(b"Cafe report\n\nThe caf\xe9 opened in Aqaba.\n")
    return folder


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder holding ``archive/`` and an index whose own folder name holds an escape."""
    root = tmp_path_factory.mktemp("hostile")
    write_hostile_archive(root / "archive")
    with Archive.open(root / f"idx{CLEAR}", embedder=HashEmbedder(dim=DIM)) as archive:
        archive.index([root / "archive"])
    return root


def index_of(root: Path) -> Path:
    return root / f"idx{CLEAR}"


# -- the function ---------------------------------------------------------------------------------
def test_visible_shows_every_control_but_newline_and_tab() -> None:
    controls = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]
    for ch in controls:
        if ch in "\n\t":
            assert visible(ch) == ch
        else:
            assert visible(ch) == f"\\x{ord(ch):02x}"
    assert visible(HOSTILE_TITLE) == (
        "Aqaba \\x1b[2Jdesalination\\x1b]0;owned\\x07 deal \\x1b[5msigned\\x9b31m now\\x07"
    )
    plain = "Text with «Arabic» عربي, tabs\tand\nlines, [bold] and \u2028."
    assert visible(plain) is plain  # no controls: the same string, not a copy


def test_json_text_escapes_every_control_and_round_trips() -> None:
    data = {"title": HOSTILE_TITLE, "body": "\x7f\x85\u2028 عربي"}
    out = json_text(data)
    assert json.loads(out) == data
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]", out)
    assert "\\u001b[2J" in out and "\\u009b31m" in out and "\\u0007" in out and "عربي" in out


# -- the CLI, for real ----------------------------------------------------------------------------
# Rich's own styling and its progress display: colours, cursor up, erase line, cursor shown/hidden.
RICH_OWN = re.compile(r"\r?\x1b\[(?:[0-9;]*m|[0-9]*[ABCDGK]|\?25[hl])")


def run_cli(root: Path, tty: bool, *args: str, index: Path | None = None) -> tuple[str, int]:
    """Run ``askarchive`` (hash embedder) with stdout and stderr both on one pseudo-terminal, or
    both piped; returns everything written, decoded, and the exit code."""
    argv = [sys.executable, "-c", CLI, *args, "--index", str(index or index_of(root))]
    if not tty:
        proc = subprocess.run(
            argv, capture_output=True, env=cli_env(root), cwd=root, timeout=120, check=False
        )
        return (proc.stdout + proc.stderr).decode("utf-8"), proc.returncode
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 220, 0, 0))
    child = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=cli_env(root), cwd=root
    )
    os.close(slave)
    return drain_pty(master).decode("utf-8"), child.wait(timeout=120)


def assert_inert(output: str, tty: bool) -> str:
    """No ESC, BEL or CSI from the article in ``output``; returns it without Rich's own codes."""
    for raw in RAW:
        assert raw not in output, (raw, output)
    text = RICH_OWN.sub("", output) if tty else output
    bad = sorted({f"U+{ord(c):04X}" for c in re.findall("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)})
    # A terminal turns "\n" into "\r\n"; nothing else may remain.
    assert bad in ([], ["U+000D"]) if tty else bad == [], (bad, output)
    if bad:
        assert "\r" not in text.replace("\r\n", "")
    return text


def strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        data = list(data.values())
    if isinstance(data, list):
        return [s for item in data for s in strings(item)]
    return []


MODES = pytest.mark.parametrize("tty", [True, False], ids=["terminal", "piped"])


@MODES
def test_search_shows_the_hostile_article_inert(hostile: Path, tty: bool) -> None:
    out, code = run_cli(hostile, tty, "search", "Aqaba desalination plant cost")
    assert code == 0, out
    text = assert_inert(out, tty)
    for shown in SHOWN:
        assert shown in text, (shown, text)  # title, passage and path, shown not obeyed
    assert "archive/water\\x1b[2J\\x9b31m.txt:" in text


@MODES
def test_ask_shows_the_hostile_article_inert(hostile: Path, tty: bool) -> None:
    out, code = run_cli(hostile, tty, "ask", QUESTION, "--no-llm")
    assert code == 0, out
    text = assert_inert(out, tty)
    assert "will cost 1.1 billion dollars" in text
    assert "\\x1b]0;owned\\x07" in text  # the cited sentence
    assert "\\x1b[5msigned\\x9b31m" in text  # the source line's title


@pytest.fixture
def llm() -> FakeLLM:  # type: ignore[misc]
    fake = FakeLLM().start()
    yield fake
    fake.stop()


@MODES
def test_streamed_llm_reply_is_inert(hostile: Path, llm: FakeLLM, tty: bool) -> None:
    llm.reply = f"The plant {TITLE} will cost 1.1 billion dollars {CLEAR}{BLINK}{CSI}{BEL} [1]"
    out, code = run_cli(hostile, tty, "ask", QUESTION, "--llm", llm.url)
    assert code == 0, out
    text = assert_inert(out, tty)
    assert "\\x1b[2J\\x1b[5m\\x9b31m\\x07" in text


@MODES
def test_index_report_names_hostile_files_inert(tmp_path: Path, hostile: Path, tty: bool) -> None:
    out, code = run_cli(hostile, tty, "index", "archive", index=tmp_path / "fresh")
    assert code == 0, out
    text = assert_inert(out, tty)
    assert "empty\\x1b]0;owned\\x07.txt" in text  # skipped: empty
    assert "binary\\x1b[5m.txt" in text  # skipped: binary
    assert "latin\\x9b31m.txt" in text  # warning: invalid UTF-8


@MODES
def test_stats_and_errors_show_a_hostile_index_path_inert(
    tmp_path: Path, hostile: Path, tty: bool
) -> None:
    out, code = run_cli(hostile, tty, "stats")
    assert code == 0, out
    assert "idx\\x1b[2J" in assert_inert(out, tty)
    out, code = run_cli(hostile, tty, "search", "oil", index=tmp_path / f"missing{TITLE}")
    assert code != 0 and "askarchive: error:" in out
    assert "missing\\x1b]0;owned\\x07" in assert_inert(out, tty)


@pytest.mark.parametrize(
    "args",
    [
        ("search", "Aqaba desalination plant cost"),
        ("ask", QUESTION, "--no-llm"),
        ("index", "archive"),
    ],
    ids=lambda a: a[0],
)
def test_json_escapes_every_control(tmp_path: Path, hostile: Path, args: tuple[str, ...]) -> None:
    index = tmp_path / "fresh" if args[0] == "index" else None
    proc = subprocess.run(
        [sys.executable, "-c", CLI, *args, "--json", "--index", str(index or index_of(hostile))],
        capture_output=True,
        env=cli_env(hostile),
        cwd=hostile,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode("utf-8")
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", out), out
    data = json.loads(out)  # valid JSON, and the data keeps the article's exact characters
    kept = " ".join(strings(data))
    assert all(raw in kept for raw in RAW if raw != CLEAR or args[0] != "index"), kept
    assert "\\u001b" in out and "\\u009b31m" in out and "\\u0007" in out
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", proc.stderr.decode("utf-8"))


# -- the chat -------------------------------------------------------------------------------------
SIZE = (160, 44)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_user_dirs(monkeypatch, tmp_path)


def assert_screen_inert(app: AskArchiveApp) -> str:
    """What the terminal would be sent, as text: no control character at all."""
    text = screen_text(app)
    bad = re.findall("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)
    assert not bad, (bad, text)
    return text


async def ask(pilot: Any, question: str) -> TurnView:
    pilot.app.screen.query_one("#question").value = question
    await pilot.press("enter")
    await settle(pilot)
    return list(pilot.app.screen.query(TurnView))[-1]


@pytest.mark.anyio
async def test_chat_answer_sources_reader_and_export_are_inert(
    tmp_path: Path, hostile: Path
) -> None:
    app = make_app(tmp_path, backend_for(index_of(hostile)))
    async with app.run_test(size=SIZE) as pilot:
        view = await ask(pilot, QUESTION)
        assert view.answer is not None and not view.answer.abstained
        # The answer view: the cited sentence, its markers and what was searched.
        text = assert_screen_inert(app)
        assert "will cost 1.1 billion dollars" in text and "\\x1b]0;owned\\x07" in text
        # The sources panel: title, path and the cited words.
        panel = app.screen.query_one(SourcesPanel)
        item = panel.query(SourceItem).first()
        shown = item.query_one(Static).content.plain  # type: ignore[union-attr]
        assert "\\x1b[5msigned\\x9b31m" in shown and "water\\x1b[2J\\x9b31m.txt" in shown
        assert not any(raw in shown for raw in RAW)
        # The reader: title, path and every paragraph, the cited words still highlighted.
        await pilot.press(":", "1", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ReaderScreen)
        text = assert_screen_inert(app)
        for s in SHOWN:
            assert s in text, (s, text)
        cited = app.screen.cited()
        assert any("will cost 1.1 billion" in str(p.content) for p in cited)
        for para in app.screen.query(Paragraph):
            assert not any(raw in str(para.content) for raw in RAW)
        await pilot.press("escape")
        await pilot.pause()
        # The export, a file people print with cat.
        await pilot.press("ctrl+t")
        await pilot.pause()
        md = next((tmp_path / "exports").glob("*.md")).read_text("utf-8")
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", md), md
        assert "signed\\x9b31m now\\x07" in md  # the title, in the sources


@pytest.mark.anyio
async def test_chat_question_sessions_and_notices_are_inert(tmp_path: Path, hostile: Path) -> None:
    """A hostile question (pasted) names the session; indexing the hostile folder reports the
    skipped files in a notification."""
    backend = backend_for(tmp_path / "fresh", paths=(hostile / "archive",))
    app = make_app(tmp_path, backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        seen = "\n".join(m for m, _ in app.seen)  # type: ignore[attr-defined]
        assert "skipped" in seen and not any(raw in seen for raw in RAW), seen
        assert_screen_inert(app)
        app.clear_notifications()
        await ask(pilot, f"Aqaba {CLEAR}plant{TITLE} cost?")
        text = assert_screen_inert(app)
        assert "plant\\x1b]0;owned\\x07 cost?" in text  # the question and the status line
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        assert "\\x1b[2Jplant" in assert_screen_inert(app)


@pytest.mark.anyio
async def test_chat_streamed_llm_reply_is_inert(tmp_path: Path, hostile: Path) -> None:
    server = FakeLLM().start()
    try:
        server.script = "slow"  # one word, then it stalls: the streamed text is on screen
        server.reply = f"{TITLE}{CLEAR}{BLINK}{CSI}{BEL} plant costs 1.1 billion [1]."
        app = make_app(tmp_path, backend_for(index_of(hostile), llm=server.url))
        async with app.run_test(size=SIZE) as pilot:
            app.screen.query_one("#question").value = QUESTION
            await pilot.press("enter")
            view = list(app.screen.query(TurnView))[-1]
            for _ in range(100):
                await pilot.pause(0.05)
                if "owned" in view.body.source:
                    break
            assert view.state == "pending" and "owned" in view.body.source
            assert "\\x1b]0;owned\\x07\\x1b[2J\\x1b[5m\\x9b31m\\x07" in assert_screen_inert(app)
            await pilot.press("escape")
            await settle(pilot)
    finally:
        server.stop()


@pytest.fixture
def hostile_snap_app(tmp_path: Path, hostile: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(hostile)  # article paths display relative to the working directory
    app = make_app(tmp_path, backend_for(index_of(hostile)))
    app.theme = "textual-dark"
    return app


def test_snapshot_hostile_chat(hostile_snap_app: AskArchiveApp, snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        for box in pilot.app.screen.query("Input"):
            box.cursor_blink = False
        await ask(pilot, QUESTION)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(hostile_snap_app, terminal_size=(120, 34), run_before=run_before)
