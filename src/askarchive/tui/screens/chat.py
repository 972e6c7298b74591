"""The conversation: ask, read answers with [n] markers, open sources, filter, save sessions.

Every slow call (opening the index, loading the model, answering, indexing, reading an article)
runs in a thread worker and reports back with ``call_from_thread``, so the input never waits.
"""

from __future__ import annotations

import re
import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, ProgressBar, Static

from askarchive.errors import AskArchiveError
from askarchive.models import Answer
from askarchive.tui.screens.chat_base import ChatScreenBase
from askarchive.tui.screens.history import SessionChoice, SessionsScreen
from askarchive.tui.screens.reader import ReaderScreen
from askarchive.tui.widgets.answer import TurnView
from askarchive.tui.widgets.filters import FilterBar
from askarchive.tui.widgets.question import QuestionInput
from askarchive.tui.widgets.sources import Source, SourcesPanel
from askarchive.tui.widgets.status import StatusLine

SOURCE_COMMAND = re.compile(r":\s*(\d+)")
WELCOME = (
    "Ask a question about the archive and press Enter.\n"
    "Answers cite their sources as [n]; type :n (e.g. :2) or press 1-9 in the sources panel "
    "to read source n. Ctrl+P lists every command."
)


class ChatScreen(ChatScreenBase):
    _ANSWERS = Binding.Group("Answers", compact=True)
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", key_display="esc", id="chat.cancel"),
        Binding("ctrl+l", "focus_question", "Ask", id="chat.ask"),
        Binding("ctrl+o", "focus_sources", "Sources", id="chat.sources"),
        Binding(
            "alt+up",
            "select_answer(-1)",
            "Previous answer",
            key_display="alt+↑",
            id="chat.previous_answer",
            group=_ANSWERS,
        ),
        Binding(
            "alt+down",
            "select_answer(1)",
            "Next answer",
            key_display="↓",
            id="chat.next_answer",
            group=_ANSWERS,
        ),
        Binding("ctrl+f", "filters", "Filters", id="chat.filters"),
        Binding("ctrl+n", "new_chat", "New", id="chat.new"),
        Binding("ctrl+s", "sessions", "Sessions", id="chat.sessions"),
        Binding("ctrl+t", "export", "Export", id="chat.export"),
        Binding("ctrl+r", "reindex", "Re-index", id="chat.reindex"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: TurnView | None = None
        self._pending: TurnView | None = None
        self._cancel: threading.Event | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with VerticalScroll(id="conversation"):
                yield Static(Text(WELCOME, style="dim"), id="welcome")
            yield SourcesPanel(id="sources")
        yield FilterBar(id="filter-bar")
        yield ProgressBar(id="index-progress", show_eta=False)
        yield QuestionInput(id="question", placeholder="Ask the archive…   (:2 opens source 2)")
        yield StatusLine(id="status")
        yield Footer(compact=True)

    def turn_views(self) -> list[TurnView]:
        return list(self.query(TurnView))

    # -- start up --------------------------------------------------------------------------------
    async def on_mount(self) -> None:
        self.query_one("#index-progress").display = False
        self.query_one(FilterBar).display = False
        self.status.set(model="loading model…", filters="no filters", session="new conversation")
        try:
            last = self.chat_app.backend.last_session_id()
            if last is not None:
                await self.load_session(last)
        except AskArchiveError as exc:
            self.say(str(exc), "error")
        self.question.focus()
        self._startup()

    @work(thread=True, group="model", exit_on_error=False)
    def _startup(self) -> None:
        backend = self.chat_app.backend
        try:
            if backend.needs_index():
                self._ui(self.start_index, None)
            if self.chat_app.warm_up:
                backend.warm_up()
            self._ui(self.status.set, model="ready")
            if self.chat_app.warm_up:
                backend.prepare_queries()
        except AskArchiveError as exc:
            self._ui(self._problem, str(exc))

    def _problem(self, message: str) -> None:
        self.status.set(model="no usable index (see message)")
        self.say(message, "error", timeout=30)

    # -- asking ----------------------------------------------------------------------------------
    @on(QuestionInput.Submitted, "#question")
    async def _submitted(self, event: QuestionInput.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        if m := SOURCE_COMMAND.fullmatch(text):
            self.question.value = ""
            self.open_source_number(int(m.group(1)))
            return
        if self._pending is not None:
            self.say("still answering the last question: press Esc to cancel it", "warning")
            return
        self.question.value = ""
        self.question.remember(text)
        await self.ask(text)

    async def ask(self, question: str) -> None:
        view = TurnView(question)
        conversation = self.query_one("#conversation", VerticalScroll)
        self.query_one("#welcome").display = False
        await conversation.mount(view)
        conversation.scroll_end(animate=False)
        self._pending = view
        self._cancel = threading.Event()
        self.status.set(activity="answering…")
        self.refresh_bindings()
        self._ask(question, view, self._cancel)

    @work(thread=True, exclusive=True, group="ask", exit_on_error=False)
    def _ask(self, question: str, view: TurnView, cancel: threading.Event) -> None:
        def on_token(token: str) -> None:
            if not cancel.is_set():
                self._ui(view.append_token, token)

        try:
            answer = self.chat_app.backend.ask(question, on_token=on_token, cancel=cancel)
        except AskArchiveError as exc:
            self._ui(self._ask_failed, view, cancel, str(exc))
        except Exception as exc:  # a bug, but the conversation should survive it
            self._ui(self._ask_failed, view, cancel, f"unexpected error: {exc!r}")
            raise
        else:
            self._ui(self._answered, question, view, cancel, answer)

    def _finish_pending(self, view: TurnView) -> bool:
        if self._pending is not view:
            return False
        self._pending = self._cancel = None
        self.refresh_bindings()
        return True

    async def _answered(
        self, question: str, view: TurnView, cancel: threading.Event, answer: Answer
    ) -> None:
        if cancel.is_set() or not self._finish_pending(view):
            return
        await view.finish(answer)
        self.status.set(activity="no answer in the archive" if answer.abstained else None)
        self._record(question, answer)
        await self.select(view)
        self.query_one("#conversation", VerticalScroll).scroll_end(animate=False)

    async def _ask_failed(self, view: TurnView, cancel: threading.Event, message: str) -> None:
        if cancel.is_set() or not self._finish_pending(view):
            return
        await view.failed(message)
        self.status.set(activity="no answer (see message)")
        self.say(message, "error", timeout=15)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            # Shown but greyed out when there is nothing to cancel.
            return True if (self._pending or self._index_cancel) else None
        return True

    async def action_cancel(self) -> None:
        if self._pending is not None and self._cancel is not None:
            self._cancel.set()
            view = self._pending
            self._finish_pending(view)
            await view.cancelled()
            self.status.set(activity="cancelled")
        elif self._index_cancel is not None:
            self._index_cancel.set()
            self.status.set(activity="cancelling indexing…")

    # -- sessions --------------------------------------------------------------------------------
    def _record(self, question: str, answer: Answer) -> None:
        """The answer is kept: the next follow-up builds on it, and it is saved."""
        try:
            title = self.chat_app.backend.record(question, answer)
        except AskArchiveError as exc:
            self.say(f"could not save this turn: {exc}", "warning")
        else:
            if title is not None:
                self.status.set(session=title)

    async def clear_conversation(self) -> None:
        if self._pending is not None:
            await self.action_cancel()
        await self.query(TurnView).remove()
        self.query_one("#welcome").display = True
        self.selected = None
        await self.sources.show(None)

    async def load_session(self, session_id: int) -> None:
        session, turns = self.chat_app.backend.open_session(session_id)
        # Cancels a pending answer before it can be recorded: it belonged to the old conversation.
        await self.clear_conversation()
        self.status.set(session=session.title, filters=session.filters.describe(), activity=None)
        self.question.history = []
        for t in turns:
            self.question.remember(t.question)
        if turns:
            self.query_one("#welcome").display = False
            views = [TurnView(t.question, t.answer) for t in turns]
            await self.query_one("#conversation", VerticalScroll).mount_all(views)
            await self.select(views[-1])

    async def action_new_chat(self) -> None:
        await self.clear_conversation()
        self.chat_app.backend.new_session()
        self.status.set(session="new conversation", activity=None)
        self.question.focus()

    def action_sessions(self) -> None:
        backend = self.chat_app.backend
        if backend.sessions is None:
            self.say("sessions are not available (see the earlier message)", "warning")
            return

        async def chosen(choice: SessionChoice | None) -> None:
            try:
                if choice is not None and choice.action == "open" and choice.session_id:
                    await self.load_session(choice.session_id)
                elif choice is not None and choice.action == "new":
                    await self.action_new_chat()
                elif backend.session_id is not None:
                    # The open conversation may have been renamed or deleted meanwhile.
                    current = backend.current_session()
                    if current is not None:
                        self.status.set(session=current.title)
                    else:
                        await self.action_new_chat()
            except AskArchiveError as exc:
                self.say(str(exc), "error")
            self.question.focus()

        self.app.push_screen(SessionsScreen(backend), chosen)

    def action_export(self) -> None:
        try:
            path = self.chat_app.backend.export_session(self.chat_app.exports_dir)
        except (AskArchiveError, OSError) as exc:
            self.say(f"export failed: {exc}", "error")
            return
        if path is None:
            self.say("nothing to export yet: ask a question first", "warning")
        else:
            self.say(f"exported to {path}")

    # -- selecting answers and opening sources ---------------------------------------------------
    @on(TurnView.Selected)
    async def _turn_selected(self, event: TurnView.Selected) -> None:
        await self.select(event.view)

    async def select(self, view: TurnView) -> None:
        if self.selected is view:
            return
        if self.selected is not None:
            self.selected.remove_class("-selected")
        self.selected = view
        view.add_class("-selected")
        await self.sources.show(view.answer)

    async def action_select_answer(self, step: int) -> None:
        views = [v for v in self.turn_views() if v.answer is not None]
        if not views:
            return
        at = views.index(self.selected) if self.selected in views else len(views)
        target = views[max(0, min(len(views) - 1, at + step))]
        await self.select(target)
        target.scroll_visible(animate=False)

    def action_focus_question(self) -> None:
        self.question.focus()

    def action_focus_sources(self) -> None:
        self.sources.list_view.focus()

    def open_source_number(self, number: int) -> None:
        src = self.sources.by_number(number)
        if src is None:
            self.say(f"the selected answer has no source [{number}]", "warning")
        else:
            self.open_source(src)

    @on(SourcesPanel.Open)
    def _open_requested(self, event: SourcesPanel.Open) -> None:
        self.open_source(event.source)

    def open_source(self, source: Source) -> None:
        self._load_article(source)

    @work(thread=True, exclusive=True, group="reader", exit_on_error=False)
    def _load_article(self, source: Source) -> None:
        try:
            article = self.chat_app.backend.article(source.citation.article_id)
        except AskArchiveError as exc:
            self._ui(self.say, str(exc), "error")
            return
        self._ui(self.app.push_screen, ReaderScreen(article, source.spans, source.number))
