"""The Textual app: holds the backend (archive, conversation, sessions); screens do the work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from askarchive.errors import AskArchiveError
from askarchive.safe import visible
from askarchive.tui.backend import ChatBackend
from askarchive.tui.commands import ChatCommands
from askarchive.tui.screens.chat import ChatScreen


class AskArchiveApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "askarchive"
    COMMANDS = App.COMMANDS | {ChatCommands}
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True)]

    def __init__(
        self,
        backend: ChatBackend,
        *,
        sessions_path: Path | None = None,
        exports_dir: Path | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        warm_up: bool = True,
    ) -> None:
        super().__init__()
        from askarchive import locations

        self.backend = backend
        self.warm_up = warm_up
        self.exports_dir = exports_dir or locations.exports_dir()
        self._startup_error: str | None = None
        try:
            backend.open_sessions(sessions_path or locations.sessions_db(), clock=clock)
        except (AskArchiveError, OSError) as exc:
            # Chat still works; only saving and reopening conversations is lost.
            self._startup_error = f"conversations will not be saved: {exc}"

    def get_default_screen(self) -> ChatScreen:
        return ChatScreen()

    def on_mount(self) -> None:
        if self._startup_error:
            message = visible(self._startup_error)
            self.notify(message, severity="warning", markup=False, timeout=20)

    def on_unmount(self) -> None:
        self.backend.close_sessions()
