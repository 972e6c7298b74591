"""The history of saved conversations: open one, start a new one, rename or delete.

Everything is read and changed through the chat backend, which owns the session store.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, ListItem, ListView, Static

from askarchive.errors import AskArchiveError
from askarchive.safe import visible
from askarchive.tui.backend import ChatBackend, Session
from askarchive.tui.screens.prompt import PromptScreen


@dataclass(frozen=True, slots=True)
class SessionChoice:
    """What the chat screen should do when this screen closes."""

    action: str  # "open" | "new" | "none"
    session_id: int | None = None


def session_text(s: Session, current: bool) -> Text:
    text = Text()
    text.append("● " if current else "  ", style="bold")
    text.append(visible(s.title), style="bold")
    plural = "" if s.turns == 1 else "s"
    text.append(
        f"\n  {s.turns} question{plural} · last active {s.updated[:16].replace('T', ' ')}",
        style="dim",
    )
    return text


class SessionItem(ListItem):
    def __init__(self, session: Session, current: bool) -> None:
        super().__init__(Static(session_text(session, current)))
        self.session = session


class SessionsScreen(Screen[SessionChoice]):
    BINDINGS = [
        Binding("escape", "close", "Back", id="sessions.back"),
        Binding("o", "open", "Open", id="sessions.open"),  # Enter on the list opens too
        Binding("n", "new", "New chat", id="sessions.new"),
        Binding("r", "rename", "Rename", id="sessions.rename"),
        Binding("d,delete", "delete", "Delete", key_display="d", id="sessions.delete"),
    ]

    def __init__(self, backend: ChatBackend) -> None:
        super().__init__(classes="sessions")
        self.backend = backend
        self.current = backend.session_id

    def compose(self) -> ComposeResult:
        yield Static(Text("Conversations", style="bold"), id="sessions-title")
        yield Static(Text("No saved conversations yet.", style="dim"), id="sessions-empty")
        yield ListView(id="session-list")
        yield Footer(compact=True)

    async def on_mount(self) -> None:
        await self.reload()
        self.query_one("#session-list", ListView).focus()

    async def reload(self, select: int | None = None) -> None:
        try:
            sessions = self.backend.list_sessions()
        except AskArchiveError as exc:
            self.notify(visible(str(exc)), severity="error", markup=False)
            sessions = []
        lv = self.query_one("#session-list", ListView)
        await lv.clear()
        await lv.extend(SessionItem(s, s.id == self.current) for s in sessions)
        self.query_one("#sessions-empty", Static).display = not sessions
        ids = [s.id for s in sessions]
        want = select if select in ids else self.current
        lv.index = ids.index(want) if want in ids else (0 if ids else None)

    def selected(self) -> Session | None:
        item = self.query_one("#session-list", ListView).highlighted_child
        return item.session if isinstance(item, SessionItem) else None

    @on(ListView.Selected)
    def _chosen(self, event: ListView.Selected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        s = self.selected()
        if s is not None:
            self.dismiss(SessionChoice("open", s.id))

    def action_new(self) -> None:
        self.dismiss(SessionChoice("new"))

    def action_close(self) -> None:
        self.dismiss(SessionChoice("none"))

    def action_rename(self) -> None:
        s = self.selected()
        if s is None:
            return

        async def done(title: str | None) -> None:
            if title is None:
                return
            try:
                self.backend.rename_session(s.id, title)
            except AskArchiveError as exc:
                self.notify(visible(str(exc)), severity="error", markup=False)
            await self.reload(select=s.id)

        self.app.push_screen(PromptScreen("Rename conversation", s.title), done)

    async def action_delete(self) -> None:
        s = self.selected()
        if s is None:
            return
        try:
            self.backend.delete_session(s.id)
        except AskArchiveError as exc:
            self.notify(visible(str(exc)), severity="error", markup=False)
        else:
            self.notify(visible(f"deleted “{s.title}”"), markup=False)
        await self.reload()
