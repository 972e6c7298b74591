"""The Textual chat, driven with Pilot against a real (hash-embedded) index.

A session-scoped fixture indexes a few short articles written here, one of which holds literal
Rich/Textual markup; each test opens its own ``Archive`` on that index and its own session store.
"""

from __future__ import annotations

import ast
import datetime as dt
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

import askarchive.tui
from askarchive.answer.llm import config as llm_module
from askarchive.answer.markdown import NO_ANSWER
from askarchive.archive import Archive
from askarchive.models import Answer
from askarchive.sessions import SessionStore
from askarchive.tui.app import AskArchiveApp
from askarchive.tui.backend import ChatBackend, Filters
from askarchive.tui.screens.history import SessionsScreen
from askarchive.tui.screens.reader import CITED_STYLE, Paragraph, ReaderScreen
from askarchive.tui.widgets.answer import TurnView
from askarchive.tui.widgets.sources import SourceItem, SourcesPanel
from tests.fakes import HashEmbedder
from tests.helpers import isolate_user_dirs
from tests.llm_server import FakeLLM

pytestmark = pytest.mark.anyio
SIZE = (140, 40)
FILLER = "\n\n".join(f"Background paragraph {i} about regional water policy." for i in range(40))
ARTICLES = {
    "shoigu.txt": (
        "Shoigu to Damascus with Messages from Moscow",
        "2016-06-18",
        "Russian Minister of Defense Sergey Shoigu made an unplanned visit to Syria on Saturday."
        "\n\nShoigu inspected Hmeimim airbase and then headed to Damascus to meet Bashar Assad."
        "\n\nPutin said that maintaining the integrity of Syria must be the top priority.",
    ),
    "oil.txt": (
        "Oil prices fall after OPEC meeting",
        "2015-12-05",
        "Brent crude fell four percent after the OPEC meeting in Vienna on Friday."
        "\n\nMinisters failed to agree on a production ceiling, traders said.",
    ),
    "markup.txt": (
        "Alert [bold red]system[/] tested in Riyadh",
        "2017-03-02",
        "The civil defence tested a new siren network in Riyadh on Thursday.\n\nEngineers printed "
        "the warning code [bold red]alert[/] and the link [@click=app.quit]Click me[/] on every "
        "siren panel in Riyadh.",
    ),
    "gaza.txt": (
        "Desalination plant approved for Gaza",
        "2017-01-20",
        FILLER + "\n\nThe desalination plant in Gaza will pump fresh water to 250,000 homes.",
    ),
}


def write_archive(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (title, day, body) in ARTICLES.items():
        (folder / name).write_text(f"---\ntitle: {title}\ndate: {day}\n---\n{body}\n", "utf-8")
    return folder


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder holding ``archive/`` (the articles) and ``index/`` (built once)."""
    root = tmp_path_factory.mktemp("corpus")
    write_archive(root / "archive")
    with Archive.open(root / "index", embedder=HashEmbedder()) as archive:
        report = archive.index([root / "archive"])
    assert report.added == len(ARTICLES)
    return root


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_user_dirs(monkeypatch, tmp_path)


def backend_for(
    index: Path, paths: tuple[Path, ...] = (), llm: Any = False, dim: int = 64
) -> ChatBackend:
    return ChatBackend(
        lambda create: Archive.open(index, embedder=HashEmbedder(dim=dim), create=create),
        paths,
        llm,
    )


def fixed_clock() -> dt.datetime:
    return dt.datetime(2024, 5, 1, 9, 30)


def make_app(tmp_path: Path, backend: ChatBackend) -> AskArchiveApp:
    app = AskArchiveApp(
        backend,
        sessions_path=tmp_path / "data" / "sessions.sqlite3",
        exports_dir=tmp_path / "exports",
        clock=fixed_clock,
    )
    app.seen = []  # type: ignore[attr-defined]
    notify = app.notify

    def recording_notify(message: str, **kw: Any) -> None:
        app.seen.append((message, kw.get("severity", "information")))  # type: ignore[attr-defined]
        notify(message, **kw)

    app.notify = recording_notify  # type: ignore[method-assign]
    return app


async def settle(pilot: Any) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def ask(pilot: Any, question: str) -> TurnView:
    pilot.app.screen.query_one("#question").value = question
    await pilot.press("enter")
    await settle(pilot)
    return list(pilot.app.screen.query(TurnView))[-1]


def screen_text(app: AskArchiveApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def messages(app: AskArchiveApp) -> str:
    return "\n".join(m for m, _ in app.seen)  # type: ignore[attr-defined]


# -- asking, citations, reader --------------------------------------------------------------------


async def test_ask_shows_cited_answer_query_and_sources(tmp_path: Path, corpus: Path) -> None:
    app = make_app(tmp_path, backend_for(corpus / "index"))
    async with app.run_test(size=SIZE) as pilot:
        view = await ask(pilot, "Who inspected Hmeimim airbase?")
        answer = view.answer
        assert answer is not None and not answer.abstained and answer.citations
        assert "\\[1\\]" in view.body.source
        text = screen_text(app)
        assert "Shoigu inspected Hmeimim airbase" in text and "[1]" in text
        assert f"searched: {answer.query_used}" in text
        panel = app.screen.query_one(SourcesPanel)
        first = panel.sources[0]
        assert first.number == 1 and first.citation.title.startswith("Shoigu to Damascus")
        assert "2016-06-18" in text and "Shoigu to Damascus with Messages" in text
        # The panel's snippet is the cited sentence itself.
        assert "Hmeimim" in first.snippet
        assert app.screen.query_one("#status").get("session") == "Who inspected Hmeimim airbase?"


async def test_abstention_reads_as_a_sentence_with_closest_passages_one_per_line(
    tmp_path: Path, corpus: Path
) -> None:
    app = make_app(tmp_path, backend_for(corpus / "index"))
    async with app.run_test(size=SIZE) as pilot:
        view = await ask(pilot, "Who won the FIFA World Cup final?")
        answer = view.answer
        assert answer is not None and answer.abstained and answer.related
        r = view.body.region
        screen = screen_text(app).splitlines()
        lines = [screen[y][r.x : r.right].strip() for y in range(r.y, r.bottom)]
        said = next(line for line in lines if "I found nothing" in line)
        assert said.startswith(NO_ANSWER) and "nothing on" not in said
        at = next(i for i, line in enumerate(lines) if line.startswith("Closest passages:"))
        # Each passage on its own line, its path relative to the indexed folder.
        for i, p in enumerate(answer.related, 1):
            c = p.citation
            item = f"• {c.title} ({c.date}) — archive/{Path(c.path).name}:{c.start}-{c.end}"
            assert lines[at + 1 + i].startswith(item), lines[at : at + 8]


async def test_answer_meta_says_whether_the_window_is_a_hint_or_a_filter(
    tmp_path: Path, corpus: Path
) -> None:
    def meta(view: TurnView) -> str:
        return view.query_one(".meta", Static).content.plain  # type: ignore[union-attr]

    app = make_app(tmp_path, backend_for(corpus / "index"))
    async with app.run_test(size=SIZE) as pilot:
        view = await ask(pilot, "Who inspected Hmeimim airbase in June 2016?")
        assert 'dates: 2016-06-01 to 2016-06-30 from "in June 2016", as a hint' in meta(view)
        app.backend.filters = Filters.of("2016-01-01", "2016-12-31", None)
        view = await ask(pilot, "Who inspected Hmeimim airbase?")
        assert "dates: 2016-01-01 to 2016-12-31 from --since/--until, as a filter" in meta(view)


async def test_source_opens_reader_at_highlighted_span(tmp_path: Path, corpus: Path) -> None:
    app = make_app(tmp_path, backend_for(corpus / "index"))
    async with app.run_test(size=(100, 30)) as pilot:
        view = await ask(pilot, "desalination plant Gaza fresh water homes")
        sentence = view.answer.sentences[0]
        assert "250,000 homes" in sentence.text

        async def check_reader() -> None:
            await settle(pilot)
            reader = app.screen
            assert isinstance(reader, ReaderScreen)
            cited = reader.cited()
            assert len(cited) == 1
            para = cited[0]
            body = reader.article.body
            plain = para.render().plain if hasattr(para.render(), "plain") else str(para.render())
            assert sentence.text in plain
            lo, hi = sentence.start - para.start, sentence.end - para.start
            assert body[sentence.start : sentence.end] == sentence.text
            styled = [s for s in para.content.spans if str(s.style) == CITED_STYLE]
            assert [(s.start, s.end) for s in styled] == [(lo, hi)]
            # Scrolled: the article is long and the cited paragraph is at the end, yet visible.
            scroller = reader.query_one("#reader-body")
            assert scroller.scroll_y > 0
            assert scroller.region.contains_region(para.region)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, ReaderScreen)

        await pilot.press(":", "1", "enter")  # typed source number
        await check_reader()
        await pilot.press("ctrl+o", "1")  # sources panel, digit key
        await check_reader()
        await pilot.click(SourceItem)  # mouse
        await check_reader()


async def test_markup_in_articles_renders_literally(tmp_path: Path, corpus: Path) -> None:
    app = make_app(tmp_path, backend_for(corpus / "index"))
    async with app.run_test(size=(160, 40)) as pilot:
        view = await ask(pilot, "siren panel Riyadh warning code")
        assert any("[bold red]alert[/]" in s.text for s in view.answer.sentences)
        text = screen_text(app)
        assert "[bold red]alert[/]" in text and "[@click=app.quit]Click me[/]" in text
        assert "Alert [bold red]system[/] tested in Riyadh" in text  # title in sources panel
        # Clicking the would-be link in the answer does nothing.
        # Found on screen, not in the paragraph's text: the answer paragraph may wrap.
        r = view.body.query("MarkdownParagraph").first().region
        lines = screen_text(app).splitlines()
        y = next(y for y in range(r.y, r.bottom) if "Click me" in lines[y][r.x : r.right])
        await pilot.click(offset=(lines[y].index("Click me", r.x) + 2, y))
        await pilot.pause()
        assert app.is_running and app.return_code is None
        await pilot.press(":", "1", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ReaderScreen)
        text = screen_text(app)
        assert "Alert [bold red]system[/] tested in Riyadh" in text
        assert "[@click=app.quit]Click me[/]" in text
        target = next(p for p in app.screen.query(Paragraph) if "Click me" in str(p.content))
        offset = str(target.content).index("Click me")
        for dx in (1, 2, 3, 4):
            await pilot.click(target, offset=(offset + dx, 0))
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, ReaderScreen)


async def test_followup_history_and_input_recall(tmp_path: Path, corpus: Path) -> None:
    app = make_app(tmp_path, backend_for(corpus / "index"))
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "Who inspected Hmeimim airbase?")
        second = await ask(pilot, "What did Putin say about it?")
        used = second.answer.query_used
        assert used != "What did Putin say about it?"
        assert "Hmeimim" in used or "airbase" in used  # the rewrite used the earlier turn
        assert f"searched: {used}" in screen_text(app)
        assert len(app.backend.conversation.turns) == 2
        box = app.screen.query_one("#question")
        box.value = "draft"
        await pilot.press("up")
        assert box.value == "What did Putin say about it?"
        await pilot.press("up")
        assert box.value == "Who inspected Hmeimim airbase?"
        await pilot.press("down", "down")
        assert box.value == "draft"
        # alt+up selects the earlier answer; the sources panel follows it.
        await pilot.press("alt+up")
        await pilot.pause()
        first = list(app.screen.query(TurnView))[0]
        assert app.screen.selected is first and first.has_class("-selected")


# -- filters, palette, export, sessions -----------------------------------------------------------


async def test_filters_from_bar_and_palette(tmp_path: Path, corpus: Path) -> None:
    app = make_app(tmp_path, backend_for(corpus / "index"))
    async with app.run_test(size=SIZE) as pilot:
        status = app.screen.query_one("#status")
        await pilot.press("ctrl+f")
        await pilot.press(*"20x7", "enter")  # a bad date is refused with the fix
        await pilot.pause()
        assert "bad date '20x7'" in messages(app)
        assert status.get("filters") == "no filters"
        app.screen.query_one("#filter-since").value = "2017"
        await pilot.press("enter")
        await pilot.pause()
        assert status.get("filters") == "dates 2017 to …"
        assert not app.screen.query_one("#filter-bar").display
        view = await ask(pilot, "Who inspected Hmeimim airbase?")
        assert view.answer.window is not None and view.answer.window.since == dt.date(2017, 1, 1)
        assert all(c.date >= dt.date(2017, 1, 1) for c in view.answer.citations)
        # Typing a filter in the command palette.
        await pilot.press("ctrl+p", *"source oil")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert status.get("filters") == "dates 2017 to …, source ~ oil"
        await pilot.press("ctrl+p", *"Clear filters")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert status.get("filters") == "no filters"
        await pilot.press("ctrl+p", *"source oil")
        await pilot.pause(0.3)
        await pilot.press("enter")
        view = await ask(pilot, "Who inspected Hmeimim airbase?")
        assert view.answer.abstained or all("oil" in c.path for c in view.answer.citations)


async def test_palette_lists_every_binding(tmp_path: Path, corpus: Path) -> None:
    from askarchive.tui.commands import ChatCommands

    app = make_app(tmp_path, backend_for(corpus / "index"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        names = {name for name, _, _ in ChatCommands(screen)._commands()}
        shown = [ab.binding for ab in screen.active_bindings.values() if ab.binding.show]
        assert shown
        for b in shown:
            assert b.id, f"binding {b.key} has no id"
            assert b.description in names
        # Running one from the palette works like the key.
        await pilot.press("ctrl+p", *"Filters")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one("#filter-bar").display


async def test_export_and_sessions_persist(tmp_path: Path, corpus: Path) -> None:
    app = make_app(tmp_path, backend_for(corpus / "index"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t")
        assert "nothing to export yet" in messages(app)
        await ask(pilot, "Who inspected Hmeimim airbase?")
        await pilot.press("ctrl+t")
        await pilot.pause()
        exported = list((tmp_path / "exports").glob("*.md"))
        assert len(exported) == 1 and f"exported to {exported[0]}" in messages(app)
        md = exported[0].read_text("utf-8")
        assert "Who inspected Hmeimim airbase?" in md and "Shoigu to Damascus" in md

    # A new app reopens the last session, with its history for follow-ups.
    app2 = make_app(tmp_path, backend_for(corpus / "index"))
    async with app2.run_test(size=SIZE) as pilot:
        await settle(pilot)
        views = list(app2.screen.query(TurnView))
        assert [v.question for v in views] == ["Who inspected Hmeimim airbase?"]
        assert views[0].answer is not None and len(app2.backend.conversation.turns) == 1
        await pilot.press("ctrl+n")
        await ask(pilot, "Why did oil prices fall?")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app2.screen, SessionsScreen)
        assert len(app2.screen.query(SourceItem)) == 0
        assert "Why did oil prices fall?" in screen_text(app2)
        await pilot.press("down", "enter")  # the older session
        await settle(pilot)
        assert [v.question for v in app2.screen.query(TurnView)] == [
            "Who inspected Hmeimim airbase?"
        ]
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("d")  # delete the highlighted (open) session
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert not list(app2.screen.query(TurnView))  # the open one was deleted: fresh chat
    with SessionStore(tmp_path / "data" / "sessions.sqlite3") as store:
        assert [s.title for s in store.list()] == ["Why did oil prices fall?"]


class EchoArchive:
    """Answers every question at once and remembers the history and filters each ask got."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[str], dict[str, Any]]] = []

    def ask(self, question: str, history: Any = (), **kw: Any) -> Answer:
        self.asked.append((question, [t.question for t in history], kw))
        return Answer(f"About {question}", [], [], False, f"query {question}")


def test_backend_owns_one_conversation_and_saves_it(tmp_path: Path) -> None:
    archive = EchoArchive()
    backend = ChatBackend(lambda create: archive)  # type: ignore[arg-type,return-value]
    backend.open_sessions(tmp_path / "s.db", clock=fixed_clock)
    backend.filters = Filters.of("2016", "", " oil ")
    first = backend.ask("Who went to Damascus?")
    assert backend.conversation.turns == []  # not kept until the screen records it
    assert backend.record("Who went to Damascus?", first) == "Who went to Damascus?"
    backend.record("And then?", backend.ask("And then?"))
    assert archive.asked[1][1] == ["Who went to Damascus?"]  # the follow-up saw the first turn
    assert archive.asked[1][2]["since"] == "2016" and archive.asked[1][2]["source"] == "oil"
    assert [t.query_used for t in backend.conversation.turns] == [
        "query Who went to Damascus?",
        "query And then?",
    ]
    saved = backend.session_id
    assert saved is not None
    backend.new_session()
    backend.filters = Filters()
    assert backend.conversation.turns == [] and backend.session_id is None
    # Reopening puts the saved turns and filters back into the same conversation object.
    conversation = backend.conversation
    session, turns = backend.open_session(saved)
    assert backend.conversation is conversation and len(turns) == 2
    assert [t.question for t in conversation.turns] == ["Who went to Damascus?", "And then?"]
    assert backend.filters == Filters("2016", None, "oil") == session.filters
    assert backend.filters.describe() == "dates 2016 to …, source ~ oil"
    backend.delete_session(saved)
    assert backend.current_session() is None
    backend.close_sessions()


# Screens and widgets reach saved sessions only through the chat backend, and nothing in the
# chat opens the index store, FAISS or SQLite itself.
NEVER_IN_TUI = ("askarchive.store", "faiss", "sqlite3")
ONLY_IN_BACKEND = ("askarchive.sessions",)


def imported_modules(source: str) -> set[str]:
    """Every module (or module.name) a source file imports, lazy imports inside functions too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_import_reader_sees_lazy_and_from_imports() -> None:
    source = "def f():\n    from askarchive import sessions\nimport sqlite3 as db\n"
    assert {"askarchive.sessions", "sqlite3"} <= imported_modules(source)


def test_tui_reaches_sessions_and_storage_only_through_the_backend() -> None:
    def banned(name: str, prefixes: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    root = Path(askarchive.tui.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        never = NEVER_IN_TUI if rel == "backend.py" else NEVER_IN_TUI + ONLY_IN_BACKEND
        for name in imported_modules(path.read_text("utf-8")):
            parts = name.split(".")
            if name.startswith("."):
                offenders.append(f"{rel}: relative import {name} (use the absolute name)")
            elif banned(name, never):
                offenders.append(f"{rel}: {name}")
            elif parts[0] == "textual" and any(p.startswith("_") for p in parts[1:]):
                offenders.append(f"{rel}: private Textual module {name}")
    assert offenders == []


# -- never blocks: model loading, streaming, cancel, indexing -------------------------------------


class SlowWarmUp(ChatBackend):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.release = threading.Event()
        self.thread: str | None = None

    def warm_up(self) -> None:
        self.thread = threading.current_thread().name
        self.release.wait(10)
        super().warm_up()


async def test_usable_while_model_loads(tmp_path: Path, corpus: Path) -> None:
    backend = SlowWarmUp(backend_for(corpus / "index")._open_archive, (), False)
    app = make_app(tmp_path, backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        status = app.screen.query_one("#status")
        assert status.get("model") == "loading model…"
        await pilot.press(*"typing works")
        assert app.screen.query_one("#question").value == "typing works"
        assert backend.thread is not None and backend.thread != threading.main_thread().name
        backend.release.set()
        await settle(pilot)
        assert status.get("model") == "ready"


@pytest.fixture
def llm_server():
    server = FakeLLM().start()
    yield server
    server.stop()


async def test_llm_answer_streams_and_escape_cancels(
    tmp_path: Path, corpus: Path, llm_server: FakeLLM
) -> None:
    llm_server.script, llm_server.reply = "slow", "Shoigu went to Hmeimim [1]."
    backend = backend_for(corpus / "index", llm=llm_server.url)
    backend.llm_model = "tui-model"  # as `askarchive chat --llm URL --llm-model NAME` passes it
    app = make_app(tmp_path, backend)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#question").value = "Who inspected Hmeimim airbase?"
        await pilot.press("enter")
        view = list(app.screen.query(TurnView))[-1]
        for _ in range(100):  # the first streamed word arrives, then the server stalls
            await pilot.pause(0.05)
            if "Shoigu" in view.body.source:
                break
        assert "Shoigu" in view.body.source and view.state == "pending"
        assert app.screen.query_one("#status").get("activity") == "answering…"
        began = time.monotonic()
        await pilot.press("escape")
        assert view.state == "cancelled"  # the UI says so at once...
        await settle(pilot)
        # ...and the worker stops too: the stalled stream (10 s timeout) was abandoned.
        assert time.monotonic() - began < 3
        assert "cancelled" in screen_text(app)
        assert app.screen.query_one("#status").get("activity") == "cancelled"
        assert app.backend.conversation.turns == [] and app.backend.session_id is None
    assert llm_server.requests[-1].body["model"] == "tui-model"


async def test_llm_down_falls_back_with_notice(tmp_path: Path, corpus: Path) -> None:
    config = llm_module.LLMConfig(url="http://127.0.0.1:9/v1", model="m", timeout=2)
    app = make_app(tmp_path, backend_for(corpus / "index", llm=config))
    async with app.run_test(size=SIZE) as pilot:
        view = await ask(pilot, "Who inspected Hmeimim airbase?")
        assert view.answer.notice and "LLM unavailable" in view.answer.notice
        assert "LLM unavailable" in screen_text(app) and view.answer.citations


class GatedIndex(ChatBackend):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.seen, self.release = threading.Event(), threading.Event()

    def index(self, paths: Any, progress: Any, cancel: threading.Event) -> Any:
        def gated(p: Any) -> None:
            progress(p)
            self.seen.set()
            self.release.wait(10)

        return super().index(paths, gated, cancel)


async def test_indexes_archive_on_start_then_reindex_from_palette(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "archive")
    backend = GatedIndex(backend_for(tmp_path / "index")._open_archive, (archive,), False)
    app = make_app(tmp_path, backend)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if backend.seen.is_set():
                break
        await pilot.pause()
        assert app.screen.query_one("#index-progress").display
        assert app.screen.query_one("#status").get("activity").startswith("indexing")
        await pilot.press(*"still typing")
        assert app.screen.query_one("#question").value == "still typing"
        backend.release.set()
        await settle(pilot)
        assert not app.screen.query_one("#index-progress").display
        assert f"indexed: {len(ARTICLES)} added" in messages(app)
        view = await ask(pilot, "Who inspected Hmeimim airbase?")
        assert view.answer.citations
        await pilot.press("ctrl+p", *"Re-index")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert "indexed: 0 added, 0 updated, 0 removed" in messages(app)


# -- user errors are messages, not crashes --------------------------------------------------------


@pytest.mark.parametrize("case", ["missing", "mismatch", "empty_archive", "empty_index"])
async def test_user_errors_are_notifications(tmp_path: Path, corpus: Path, case: str) -> None:
    if case == "missing":
        backend, expect = backend_for(tmp_path / "nope"), "no index at"
    elif case == "mismatch":
        backend, expect = backend_for(corpus / "index", dim=32), "was built with model"
    elif case == "empty_archive":
        (tmp_path / "empty").mkdir()
        backend, expect = backend_for(tmp_path / "idx", (tmp_path / "empty",)), "no articles found"
    else:
        Archive.open(tmp_path / "idx", embedder=HashEmbedder()).close()
        backend, expect = backend_for(tmp_path / "idx"), "is empty"
    app = make_app(tmp_path, backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = await ask(pilot, "Who inspected Hmeimim airbase?")
        assert expect in messages(app)
        assert view.state == "failed" and app.is_running
        assert all("\n" not in m for m, sev in app.seen if sev == "error")  # type: ignore[attr-defined]


@pytest.mark.model
async def test_real_model_end_to_end(tmp_path: Path, real_embedder: Any) -> None:
    folder = tmp_path / "archive"
    write_archive(folder)
    (folder / "gaza.txt").unlink()  # the long article only slows the real model down
    with Archive.open(tmp_path / "index", embedder=real_embedder) as archive:
        archive.index([folder])
    backend = ChatBackend(
        lambda create: Archive.open(tmp_path / "index", embedder=real_embedder, create=create),
        (),
        False,
    )
    app = make_app(tmp_path, backend)
    async with app.run_test(size=SIZE) as pilot:
        view = await ask(pilot, "Which airbase did the Russian defence minister inspect?")
        assert app.screen.query_one("#status").get("model") == "ready"
        assert not view.answer.abstained
        assert view.answer.citations[0].path.endswith("shoigu.txt")
        assert "Hmeimim" in screen_text(app)


def test_chat_startup_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys, askarchive.tui as t, askarchive.tui.app as a\n"
        "from askarchive.tui.backend import ChatBackend\n"
        f"app = a.AskArchiveApp(ChatBackend.for_paths({str(tmp_path)!r}, None), "
        f"sessions_path=__import__('pathlib').Path({str(tmp_path / 's.db')!r}))\n"
        "heavy = ('torch', 'sentence_transformers', 'faiss')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    lazy = "import sys, askarchive.tui\nprint('textual' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- snapshots (fixed size, fixed clock, fixed data dir, hash index) ------------------------------


def no_blink(app: AskArchiveApp) -> None:
    for box in app.screen.query("Input"):
        box.cursor_blink = False


@pytest.fixture
def snap_app(tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> AskArchiveApp:
    monkeypatch.chdir(corpus)  # article paths display relative to the working directory
    app = make_app(tmp_path, backend_for(corpus / "index"))
    app.theme = "textual-dark"
    return app


async def _asked(pilot: Any) -> None:
    no_blink(pilot.app)
    await ask(pilot, "Who inspected Hmeimim airbase?")
    pilot.app.clear_notifications()
    await pilot.pause()


def test_snapshot_chat(snap_app: AskArchiveApp, snap_compare: Any) -> None:
    assert snap_compare(snap_app, terminal_size=(120, 34), run_before=_asked)


def test_snapshot_reader(snap_app: AskArchiveApp, snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _asked(pilot)
        await pilot.press(":", "1", "enter")
        await settle(pilot)

    assert snap_compare(snap_app, terminal_size=(120, 34), run_before=run_before)


def test_snapshot_sessions(snap_app: AskArchiveApp, snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _asked(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(snap_app, terminal_size=(120, 34), run_before=run_before)


def test_snapshot_filter_bar(snap_app: AskArchiveApp, snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _asked(pilot)
        await pilot.press("ctrl+f", *"2016")
        no_blink(pilot.app)
        await pilot.pause()

    assert snap_compare(snap_app, terminal_size=(120, 34), run_before=run_before)
