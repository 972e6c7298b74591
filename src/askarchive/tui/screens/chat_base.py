"""The parts of the chat screen that are not the conversation: helpers, filters, indexing.

``ChatScreen`` (chat.py) builds on this class; it is split only to keep each file readable.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.screen import Screen
from textual.widgets import ProgressBar

from askarchive.errors import AskArchiveError
from askarchive.models import Filters, IndexReport
from askarchive.safe import visible
from askarchive.tui.screens.prompt import PromptScreen
from askarchive.tui.widgets.filters import FilterBar
from askarchive.tui.widgets.question import QuestionInput
from askarchive.tui.widgets.sources import SourcesPanel
from askarchive.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from askarchive.tui.app import AskArchiveApp


class ChatScreenBase(Screen[None]):
    """Expects the widgets ChatScreen composes: StatusLine, SourcesPanel, QuestionInput,
    FilterBar and a ProgressBar ``#index-progress``."""

    def __init__(self) -> None:
        super().__init__(classes="chat")
        self._index_cancel: threading.Event | None = None

    @property
    def chat_app(self) -> AskArchiveApp:
        return self.app  # type: ignore[return-value]

    # -- small helpers ---------------------------------------------------------------------------
    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def sources(self) -> SourcesPanel:
        return self.query_one(SourcesPanel)

    @property
    def question(self) -> QuestionInput:
        return self.query_one(QuestionInput)

    def say(
        self, message: str, severity: str = "information", timeout: float | None = None
    ) -> None:
        # markup=False: messages quote paths, titles and errors, which may contain brackets;
        # visible: and control characters.
        self.notify(visible(message), severity=severity, timeout=timeout, markup=False)  # type: ignore[arg-type]

    def _ui(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``fn`` on the UI thread from a worker; a closing app is not an error."""
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(fn, *args, **kwargs)

    # -- filters ---------------------------------------------------------------------------------
    def action_filters(self) -> None:
        bar = self.query_one(FilterBar)
        bar.load(self.chat_app.backend.filters)
        bar.display = True
        bar.query_one("#filter-since").focus()

    @on(FilterBar.Closed)
    def _filters_closed(self) -> None:
        self.query_one(FilterBar).display = False
        self.question.focus()

    @on(FilterBar.Applied)
    def _filters_applied(self, event: FilterBar.Applied) -> None:
        if self.set_filters(event.filters):
            self._filters_closed()

    def set_filters(self, filters: Filters) -> bool:
        """Apply filters to every following question; False (and a message) if they are bad."""
        try:
            self.chat_app.backend.set_filters(filters)
        except AskArchiveError as exc:
            self.say(str(exc), "error")
            return False
        self.status.set(filters=filters.describe())
        self.say(f"filters: {filters.describe()}")
        return True

    def set_filter_field(self, field: str, value: str) -> None:
        f = self.chat_app.backend.filters
        values = {"since": f.since, "until": f.until, "source": f.source, field: value}
        self.set_filters(Filters.of(**values))

    def action_clear_filters(self) -> None:
        self.set_filters(Filters())

    # -- indexing --------------------------------------------------------------------------------
    def action_reindex(self) -> None:
        if self._index_cancel is not None:
            self.say("already indexing: press Esc to stop it", "warning")
            return
        if self.chat_app.backend.index_paths:
            self.start_index(None)
            return

        def chosen(path: str | None) -> None:
            if path and path.strip():
                self.start_index([Path(path.strip()).expanduser()])

        self.app.push_screen(
            PromptScreen("Index which folder or file?", placeholder="path/to/archive"), chosen
        )

    def start_index(self, paths: list[Path] | None) -> None:
        if self._index_cancel is not None:
            return
        self._index_cancel = threading.Event()
        bar = self.query_one("#index-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.status.set(activity="indexing…")
        self.refresh_bindings()
        self._index(paths, self._index_cancel)

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def _index(self, paths: list[Path] | None, cancel: threading.Event) -> None:
        try:
            report = self.chat_app.backend.index(
                paths, lambda p: self._ui(self._progress, p), cancel
            )
        except AskArchiveError as exc:
            self._ui(self._indexed, None, str(exc))
        else:
            self._ui(self._indexed, report, None)

    def _progress(self, p: Any) -> None:
        bar = self.query_one("#index-progress", ProgressBar)
        if p.chunks_total:
            bar.update(total=p.chunks_total, progress=p.chunks_done)
            detail = f"{p.chunks_done}/{p.chunks_total} passages"
        else:
            bar.update(total=p.total or None, progress=p.done)
            detail = f"{p.done}/{p.total} files"
        self.status.set(activity=f"indexing: {p.phase} {detail}")

    def _indexed(self, report: IndexReport | None, error: str | None) -> None:
        self._index_cancel = None
        self.query_one("#index-progress").display = False
        self.refresh_bindings()
        if report is None:
            self.status.set(activity="indexing failed")
            self.say(error or "indexing failed", "error", timeout=30)
            return
        r = report
        done = "indexing stopped" if r.interrupted else "indexed"
        summary = f"{done}: {r.added} added, {r.updated} updated, {r.removed} removed"
        if r.skipped:
            summary += (
                f", {len(r.skipped)} skipped (first: {r.skipped[0].path}: {r.skipped[0].reason})"
            )
        self.status.set(activity=done)
        self.say(summary, "warning" if (r.skipped or r.interrupted) else "information")
